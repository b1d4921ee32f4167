"""Names and versions the product accepts, checked once at every boundary (blob paths, events,
HTTP routes and bodies, the workspace adapters), with Azure ML's naming rules.

Azure ML asset and model names: 1-255 letters, digits, '-', '_' and '.', not starting with
'-', '_' or '.', not ending with '.' (the pattern azure-ai-ml's REST client sends them
under). Versions: the same characters, at most 64 (integers in practice; Azure's own limit on
version strings is unverified, so we keep ours shorter than any file name limit). Neither can
contain '/', '\\' or be '.'/'..', so a name or version can never leave a folder it is joined to.

Blob names of inference files: each path segment non-empty, not starting with '.', without
'\\' or control characters, at most 255 bytes (what one folder or file name can be locally;
Azure ML datastore paths are read by tools that treat '\\' and dot-files specially).

Pure: stdlib only.
"""

from __future__ import annotations

import re

from core.domain.errors import InvalidName

_NAME = re.compile(r"^(?![-_.])[A-Za-z0-9_.-]{1,255}(?<!\.)$")
_VERSION = re.compile(r"^(?![-_.])[A-Za-z0-9_.-]{1,64}(?<!\.)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SEGMENT_BYTES = 255
_SHOWN = 80  # a hostile name is quoted in messages only up to this many characters
# An absolute host path ("/home/...", "/tmp/...", "C:\\..."); never shown in answers or records.
_HOST_PATH = re.compile(
    r"(?<![\w:/.])/(?!api/)(?:[^\s'\"/<>]+/)+[^\s'\",;)<>]*|\b[A-Za-z]:\\[^\s'\",;)<>]+")


def redact_paths(text: str) -> str:
    """`text` with every absolute host path replaced by `<path>` (API routes are kept)."""
    return _HOST_PATH.sub("<path>", text)


def shown(value: object) -> str:
    """`value` as quoted in an error message: repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 4] + "...'"


def check_name(name: object, what: str = "name") -> str:
    """An Azure ML asset, model or monitor name. Raises InvalidName."""
    if not isinstance(name, str) or not _NAME.match(name):
        length = f" ({len(name)} characters)" if isinstance(name, str) else ""
        raise InvalidName(
            f"{shown(name)}{length} is not a valid {what}: 1-255 letters, digits, '-', '_' "
            "and '.', starting with a letter or digit and not ending with '.'"
        )
    return name


def check_version(version: object, what: str = "version") -> str:
    """A version of an asset or model (integers and simple labels). Raises InvalidName."""
    if isinstance(version, int) and not isinstance(version, bool) and version >= 0:
        version = str(version)
    if not isinstance(version, str) or not _VERSION.match(version):
        raise InvalidName(
            f"{shown(version)} is not a valid {what}: 1-64 letters, digits, '-', '_' and '.', "
            "starting with a letter or digit and not ending with '.'"
        )
    return version


def check_blob_path(relative: str) -> str:
    """The part of an inference blob's name under its model folder. Raises InvalidName."""
    for segment in relative.split("/"):
        if segment == "":
            raise InvalidName(f"blob path {shown(relative)} has an empty folder name ('//')")
        if segment.startswith("."):
            raise InvalidName(
                f"blob path segment {shown(segment)} starts with '.': hidden files and '.'/'..' "
                "are not ingested; rename the file"
            )
        if "\\" in segment:
            raise InvalidName(f"blob path segment {shown(segment)} contains '\\'; use '/' "
                              "between folders and rename the file")
        if _CONTROL.search(segment):
            raise InvalidName(f"blob path segment {shown(segment)} contains control characters")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidName(
                f"blob path segment {shown(segment)} is {len(segment.encode('utf-8'))} bytes; "
                f"at most {MAX_SEGMENT_BYTES} are supported"
            )
    return relative


__all__ = ["InvalidName", "check_blob_path", "check_name", "check_version", "redact_paths",
           "shown"]
