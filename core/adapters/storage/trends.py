"""The trends store (`core.ports.TrendStore`) in blob storage: one run of append blobs per
model, each append one batch as one line of compact JSON (core.domain.trends).

Layout in the container::

    trends/<model>/seg-000000.jsonl   append blobs, oldest first; a new one every
                                      SEGMENT_APPENDS appends (Azure allows 50,000 blocks)
    trends/<model>/latest.json        the last point appended (the overview reads only this)

Appending is one `append_block` (atomic, so instances never interleave half lines); reading a
model is one download per segment and one JSON parse per segment.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from core.domain.trends import TrendPoint, decode_lines

PREFIX = "trends/"
SEGMENT_APPENDS = 10_000
# One append block carries at most 4 MiB (older service versions): bigger writes are split
# at line boundaries.
_MAX_BLOCK = 4 * 1024 * 1024
_JSONL = ContentSettings(content_type="application/x-ndjson")
_JSON = ContentSettings(content_type="application/json")


def _segment(model: str, index: int) -> str:
    return f"{PREFIX}{model}/seg-{index:06d}.jsonl"


class BlobTrendStore:
    def __init__(self, service: BlobServiceClient, container: str, *,
                 segment_appends: int = SEGMENT_APPENDS):
        self._service = service
        self._container_name = container
        self._segment_appends = segment_appends
        self._created = False
        self._lock = threading.Lock()
        # model -> (segment index, appends made to it as far as this instance knows)
        self._current: dict[str, tuple[int, int]] = {}

    def _container(self):
        client = self._service.get_container_client(self._container_name)
        if not self._created:
            with contextlib.suppress(ResourceExistsError):
                client.create_container()
            self._created = True
        return client

    # ------------------------------------------------------------------ writes

    def append(self, model: str, points: Sequence[TrendPoint]) -> None:
        if not points:
            return
        lines = [p.to_line().encode() + b"\n" for p in points]
        blocks: list[bytes] = []
        for line in lines:
            if blocks and len(blocks[-1]) + len(line) <= _MAX_BLOCK:
                blocks[-1] += line
            else:
                blocks.append(line)
        container = self._container()
        with self._lock:
            for block in blocks:
                self._append_block(container, model, block)
        latest = max(points, key=lambda p: p.at)
        container.get_blob_client(f"{PREFIX}{model}/latest.json").upload_blob(
            latest.to_line().encode(), overwrite=True, content_settings=_JSON)

    def _append_block(self, container, model: str, block: bytes) -> None:
        index, appends = self._current.get(model) or self._find_segment(container, model)
        if appends >= self._segment_appends:
            index, appends = index + 1, 0
        client = container.get_blob_client(_segment(model, index))
        if appends == 0:
            with contextlib.suppress(ResourceExistsError):
                client.create_append_blob(content_settings=_JSONL, if_none_match="*")
        client.append_block(block)
        self._current[model] = (index, appends + 1)

    def _find_segment(self, container, model: str) -> tuple[int, int]:
        """The newest segment and its block count (another instance may have appended)."""
        names = sorted(b.name for b in container.list_blobs(
            name_starts_with=f"{PREFIX}{model}/seg-"))
        if not names:
            return 0, 0
        index = int(names[-1].rsplit("-", 1)[1].split(".")[0])
        props = container.get_blob_client(names[-1]).get_blob_properties()
        return index, int(props.append_blob_committed_block_count or 0)

    # ------------------------------------------------------------------ reads

    def read(self, model: str) -> list[TrendPoint]:
        container = self._service.get_container_client(self._container_name)
        try:
            names = sorted(b.name for b in container.list_blobs(
                name_starts_with=f"{PREFIX}{model}/seg-"))
            bodies = [container.get_blob_client(n).download_blob().readall() for n in names]
        except ResourceNotFoundError:  # no container yet
            return []
        return decode_lines(model, bodies)

    def latest(self, model: str) -> TrendPoint | None:
        client = self._service.get_blob_client(self._container_name,
                                               f"{PREFIX}{model}/latest.json")
        try:
            body = client.download_blob().readall()
        except ResourceNotFoundError:
            return None
        points = decode_lines(model, [body])
        return points[-1] if points else None

    def models(self) -> list[str]:
        container = self._service.get_container_client(self._container_name)
        try:
            return sorted(p.name[len(PREFIX):].rstrip("/")
                          for p in container.walk_blobs(name_starts_with=PREFIX, delimiter="/"))
        except ResourceNotFoundError:
            return []
