"""Without AUTOPILOT_EVENTS_ENDPOINT the autopilot's own events go to the log: one INFO line
each, the CloudEvent as JSON, so a local run shows exactly what a topic would receive."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from core.domain.observability import AutopilotEvent

log = logging.getLogger(__name__)


class LoggedAutopilotEvents:
    destination = "the log (AUTOPILOT_EVENTS_ENDPOINT is not set)"

    def __init__(self, source: str):
        self.source = source

    def publish(self, events: Sequence[AutopilotEvent]) -> None:
        for event in events:
            log.info("autopilot event %s %s", event.type,
                     json.dumps(event.to_cloud_event(self.source), default=str, sort_keys=True))
