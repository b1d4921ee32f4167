"""Enabling and disabling a monitor by writing the whole schedule back with the flag changed,
shared by both workspace adapters.

Not `schedules.begin_enable`/`begin_disable` on Azure: they PUT back the GET result, which has
lost the monitoring target's model id in azure-ai-ml 1.35.2 (see azureml_monitor, pitfall 6).
The local workspace has no other way.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from core.domain.monitoring import MonitorSpec
from core.ports import NotFound


class _Schedules(Protocol):
    def get_monitor(self, name: str) -> MonitorSpec | None: ...

    def create_or_update_monitor(self, spec: MonitorSpec) -> MonitorSpec: ...


class ToggleByRewrite:
    """Mixin: needs `get_monitor` and `create_or_update_monitor`."""

    def enable_monitor(self: _Schedules, name: str) -> MonitorSpec:
        return _set_enabled(self, name, True)

    def disable_monitor(self: _Schedules, name: str) -> MonitorSpec:
        return _set_enabled(self, name, False)



def _set_enabled(schedules: _Schedules, name: str, enabled: bool) -> MonitorSpec:
    spec = schedules.get_monitor(name)
    if spec is None:
        raise NotFound(f"schedule {name}: not found")
    if spec.enabled == enabled:
        return spec
    return schedules.create_or_update_monitor(dataclasses.replace(spec, enabled=enabled))
