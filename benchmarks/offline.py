"""What the benchmark drivers share: peers run without a network where the machine allows."""

from __future__ import annotations

import subprocess


def offline_prefix() -> list[str]:
    """``unshare --net --`` when this machine lets us give a child an empty network namespace."""
    try:
        ok = subprocess.run(["unshare", "--net", "--", "true"], capture_output=True).returncode == 0
    except OSError:
        ok = False
    return ["unshare", "--net", "--"] if ok else []
