"""Use case: is the app's storage (and local workspace) reachable? Built apart from every
other use case, so answering it constructs no ledger, queue or workspace client that could
block on an unreachable account."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

HEALTH_DEADLINE_SECONDS = 4.0  # every probe together; the answer comes within 5 s


@dataclass(frozen=True)
class Health:
    backend: str
    probes: Mapping[str, Callable[[], object]]  # dependency name -> a bounded call that raises
    settings: Mapping[str, Any] = field(default_factory=dict)  # safe to show (no secrets)
    versions: Mapping[str, str] = field(default_factory=dict)
    # Dependencies the loop does not need (telemetry, the autopilot's own events): shown down
    # and listed under `degraded`, without turning the whole answer down (a platform health
    # check would otherwise recycle instances that work).
    optional: frozenset[str] = frozenset()

    def _probe(self) -> tuple[dict[str, str], dict[str, str], float]:
        """Every probe at once, bounded by HEALTH_DEADLINE_SECONDS together: (up/down per
        dependency, what went wrong per failing one, seconds taken)."""
        started = time.perf_counter()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(len(self.probes), 1),
                                                     thread_name_prefix="health")
        futures = {name: pool.submit(probe) for name, probe in self.probes.items()}
        concurrent.futures.wait(futures.values(), timeout=HEALTH_DEADLINE_SECONDS)
        pool.shutdown(wait=False, cancel_futures=True)  # a hung probe is not waited for
        states, errors = {}, {}
        for name, future in futures.items():
            if not future.done():
                states[name], errors[name] = "down", "no answer in time"
            elif future.exception() is not None:
                exc = future.exception()
                states[name], errors[name] = "down", f"{type(exc).__name__}: {exc}"[:300]
            else:
                states[name] = "up"
        return states, errors, time.perf_counter() - started

    def _verdict(self, states: Mapping[str, str]) -> dict:
        down = sorted(n for n, state in states.items() if state != "up" and n not in self.optional)
        degraded = sorted(n for n, state in states.items() if state != "up" and n in self.optional)
        return {"status": "down" if down else "up", "dependencies": dict(states),
                **({"failing": down} if down else {}),
                **({"degraded": degraded} if degraded else {})}

    def health(self) -> dict:
        """What anyone may see: up or down, per dependency, and nothing else."""
        states, _, _ = self._probe()
        return self._verdict(states)

    def details(self) -> dict:
        """Behind the function key: the same probes with their errors, the backend, the
        settings (no secrets) and the versions of the code and its main libraries."""
        states, errors, seconds = self._probe()
        verdict = self._verdict(states)
        verdict.pop("failing", None)
        return {
            **verdict, "errors": errors,
            "elapsed_ms": round(seconds * 1000, 1), "backend": self.backend,
            "versions": dict(self.versions),
            "settings": dict(self.settings),
        }


__all__ = ["HEALTH_DEADLINE_SECONDS", "Health"]
