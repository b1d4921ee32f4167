"""The two kinds of failure every entry point tells apart (pure: stdlib only).

- `PermanentError`: retrying cannot help (a name the workspace refuses, a 4xx from Azure ML, a
  path outside the workspace). Entry points record it, acknowledge the event and say why.
- everything else that escapes a use case is treated as transient: the entry point raises and
  the host retries (storage or workspace unreachable, throttled, 5xx).

`core.ports` re-exports both; adapters raise them, use cases and entry points catch them.
"""

from __future__ import annotations


class PermanentError(Exception):
    """A failure a retry cannot fix. The message says why, without host paths."""


class InvalidName(PermanentError, ValueError):
    """A name, version or path is not one the product or the workspace accepts."""


__all__ = ["InvalidName", "PermanentError"]
