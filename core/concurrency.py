"""Read-modify-write of one state document under its ETag, retried with jittered backoff
when another instance wrote first. Every shared decision (monitor state, retraining gates)
goes through here or through a loop built the same way."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from core.ports import Conflict, StateStore, Stored

ATTEMPTS = 40


def backoff(attempt: int) -> None:
    """A growing, jittered pause between optimistic-concurrency retries (spreads racers out)."""
    time.sleep(random.uniform(0, 0.02 * min(attempt + 1, 10)))


def update(
    state: StateStore, kind: str, key: str, change: Callable[[dict | None], dict | None],
    *, attempts: int = ATTEMPTS,
) -> Stored | None:
    """Apply `change(current doc or None)` and write the result with the ETag it was read
    under; `change` returning None means "leave it". Returns what was written, or None."""
    for attempt in range(attempts):
        current = state.get(kind, key)
        doc = change(dict(current.doc) if current else None)
        if doc is None:
            return None
        try:
            if current is None:
                return state.create(kind, key, doc)
            return state.replace(kind, key, doc, current.etag)
        except Conflict:
            backoff(attempt)
    raise Conflict(f"{kind}/{key}: too much contention, try again")
