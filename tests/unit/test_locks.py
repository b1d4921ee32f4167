"""The deployed app installs exactly the versions the tests ran with.

requirements.in (runtime, top level) -> requirements.txt: every transitive version with its
sha256 hashes, what the Functions remote build installs (pip's hash-checking mode, because the
file carries hashes). requirements-dev.txt (tools, top level) -> constraints.txt: the whole dev
environment, with the same runtime pins. `./dev lock` regenerates both (pip-tools'
pip-compile on Python 3.11, Linux); `./dev setup` installs requirements.txt with
--require-hashes, then the tools within constraints.txt.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)==([^\s;\\]+)", re.M)


def requirement_blocks(text: str) -> list[str]:
    """One string per requirement (continuation lines joined), comments and options left out."""
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.split(" #")[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def pins(path: str) -> dict[str, str]:
    return {canonicalize_name(name): version
            for name, version in PIN.findall((ROOT / path).read_text("utf-8"))}


def top_level(path: str) -> dict[str, str]:
    """The `name==version` lines of a hand-kept list (and the lists it includes with -r)."""
    text = (ROOT / path).read_text("utf-8")
    found: dict[str, str] = {}
    for included in re.findall(r"^-r\s+(\S+)", text, re.M):
        found |= top_level(included)
    for block in requirement_blocks(text):
        req = Requirement(block)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path}: {block} is not pinned exactly"
        found[canonicalize_name(req.name)] = spec.version
    return found


def installed() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version
            for d in importlib.metadata.distributions()}


def test_the_runtime_lock_pins_every_requirement_with_hashes():
    text = (ROOT / "requirements.txt").read_text("utf-8")
    blocks = requirement_blocks(text)
    assert len(blocks) > len(top_level("requirements.in"))  # transitive ones are there too
    for block in blocks:
        name_version, *options = block.split()
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*==[^\s]+", name_version), block
        hashes = [o for o in options if o.startswith("--hash=sha256:")]
        assert hashes and len(hashes) == len(options), f"{name_version}: no sha256 hash"
    # Nothing that would take pip out of hash-checking mode or away from the index.
    assert not re.search(r"^\s*(-e|--editable|--find-links|-f |--index-url|--extra-index-url)",
                         text, re.M)
    assert "git+" not in text and "file:" not in text


@pytest.mark.parametrize(("top", "lock"), [("requirements.in", "requirements.txt"),
                                           ("requirements-dev.txt", "constraints.txt")])
def test_each_lock_holds_its_top_level_list_at_the_same_versions(top, lock):
    """An edited top-level list without `./dev lock` fails here."""
    locked = pins(lock)
    stale = {name: (version, locked.get(name)) for name, version in top_level(top).items()
             if locked.get(name) != version}
    assert stale == {}, f"{lock} is stale: run ./dev lock ({stale})"


def test_the_dev_lock_holds_the_runtime_lock_unchanged():
    runtime, dev = pins("requirements.txt"), pins("constraints.txt")
    assert {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v} == {}


@pytest.mark.parametrize("lock", ["requirements.txt", "constraints.txt"])
def test_the_test_environment_runs_exactly_the_locked_versions(lock):
    have = installed()
    differ = {name: (version, have.get(name)) for name, version in pins(lock).items()
              if have.get(name) != version}
    assert differ == {}, f"this environment is not {lock}: run ./dev setup ({differ})"


def test_regenerating_and_installing_the_locks_is_documented_and_wired():
    for lock in ("requirements.txt", "constraints.txt"):
        header = (ROOT / lock).read_text("utf-8").splitlines()[:6]
        assert any(line.strip() == "#    ./dev lock" for line in header), lock
    dev = (ROOT / "dev").read_text("utf-8")
    assert "--generate-hashes --output-file requirements.txt requirements.in" in dev
    assert "--constraint requirements.txt --output-file constraints.txt requirements-dev.txt" \
        in dev
    assert "--require-hashes -r requirements.txt" in dev
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "./dev lock" in readme and "requirements.in" in readme
