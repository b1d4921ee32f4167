"""Optimistic concurrency, one way for the whole product: every read-modify-write of shared
state (monitor state, retraining gates, requests, alert records, version counters) is an
attempt that raises `Conflict` when another instance wrote first, retried under one policy.

Layer: beside `core.ports` (stdlib and the ports' exceptions only); use cases and adapters both
build their loops from it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from core.ports import Conflict, StateStore, Stored

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often to go round, and how long to pause between rounds (growing, jittered so
    racing instances spread out)."""

    attempts: int = 40
    pause_seconds: float = 0.02
    max_pause_steps: int = 10

    def pause(self, attempt: int) -> None:
        time.sleep(random.uniform(0, self.pause_seconds * min(attempt + 1, self.max_pause_steps)))


RETRY = RetryPolicy()


def retry_on_conflict(attempt: Callable[[], T], *, what: str, policy: RetryPolicy = RETRY) -> T:
    """Run `attempt` until it returns without raising `Conflict`; after `policy.attempts`
    rounds raise `Conflict` naming `what` (the caller, or the host, retries later)."""
    for n in range(policy.attempts):
        try:
            return attempt()
        except Conflict:
            policy.pause(n)
    raise Conflict(f"{what}: too much contention, try again")


def write(state: StateStore, kind: str, key: str, current: Stored | None, doc: dict) -> Stored:
    """Create `doc` when nothing was read, else replace what was read (ETag-checked).
    Raises `Conflict` when someone wrote in between."""
    if current is None:
        return state.create(kind, key, doc)
    return state.replace(kind, key, doc, current.etag)


def update(
    state: StateStore, kind: str, key: str, change: Callable[[dict | None], dict | None],
    *, policy: RetryPolicy = RETRY,
) -> Stored | None:
    """Apply `change(current doc or None)` and write the result under the ETag it was read
    with; `change` returning None means "leave it". Returns what was written, or None."""

    def attempt() -> Stored | None:
        current = state.get(kind, key)
        doc = change(dict(current.doc) if current else None)
        if doc is None:
            return None
        return write(state, kind, key, current, doc)

    return retry_on_conflict(attempt, what=f"{kind}/{key}", policy=policy)
