"""The trends store (`core.ports.TrendStore`) in blob storage: one run of append blobs per
model, each append one batch as one binary record (core.domain.trends: a small JSON header and
the metrics in columns), full segments compacted into block blobs.

Layout in the container::

    trends/<model>/seg-000007.bin     the live append blob; SEGMENT_APPENDS appends each
    trends/<model>/chunk-000000.bin   a full segment, sealed and rewritten in columns
                                      (core.domain.trends.encode_chunk) as one block blob
    trends/<model>/latest.bin         the last point appended (the overview reads only this)

Appending is one `append_block` (atomic, so instances never interleave half records). The
writer that fills a segment seals it (later appends to it fail: the writer moves on), copies it
into its chunk and deletes it; a writer that finds a sealed segment finishes that job. A
model's history is then one download per chunk of SEGMENT_APPENDS batches (a compressed block
blob, fast to read everywhere; a few downloaded at a time) plus the live segment.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings

from core.domain.trends import TrendPoint, decode_records, encode_chunk

PREFIX = "trends/"
SEGMENT_APPENDS = 256
# One append block carries at most 4 MiB (older service versions): bigger writes are split
# between records.
_MAX_BLOCK = 4 * 1024 * 1024
_BINARY = ContentSettings(content_type="application/octet-stream")
_PART = re.compile(r"/(seg|chunk)-(\d{6})\.bin$")


def _segment(model: str, index: int) -> str:
    return f"{PREFIX}{model}/seg-{index:06d}.bin"


def _chunk(model: str, index: int) -> str:
    return f"{PREFIX}{model}/chunk-{index:06d}.bin"


class _Moved(Exception):
    """The segment this instance appended to was sealed or compacted by another."""


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
        blocks: list[bytes] = []
        for record in (p.to_record() for p in points):
            if blocks and len(blocks[-1]) + len(record) <= _MAX_BLOCK:
                blocks[-1] += record
            else:
                blocks.append(record)
        container = self._container()
        with self._lock:
            for block in blocks:
                self._append_block(container, model, block)
        latest = max(points, key=lambda p: p.at)
        container.get_blob_client(f"{PREFIX}{model}/latest.bin").upload_blob(
            latest.to_record(), overwrite=True, content_settings=_BINARY)

    def _append_block(self, container: ContainerClient, model: str, block: bytes) -> None:
        for _ in range(5):  # each retry follows another instance's compaction
            index, appends = self._current.get(model) or self._find_segment(container, model)
            if appends >= self._segment_appends:
                self._compact(container, model, index)
                index, appends = index + 1, 0
            client = container.get_blob_client(_segment(model, index))
            try:
                if appends == 0:
                    with contextlib.suppress(ResourceExistsError):
                        client.create_append_blob(content_settings=_BINARY,
                                                  if_none_match="*")
                try:
                    client.append_block(block)
                except ResourceNotFoundError:
                    raise _Moved() from None
                except ResourceExistsError as exc:
                    if getattr(exc, "error_code", None) != "BlobIsSealed":
                        raise
                    raise _Moved() from None
            except _Moved:
                self._current.pop(model, None)
                continue
            self._current[model] = (index, appends + 1)
            return
        raise RuntimeError(f"trends of {model}: no segment took the append")

    def _parts(self, container: ContainerClient, model: str) -> dict[int, dict[str, str]]:
        """index -> {"seg"|"chunk": blob name} for the model's stored parts."""
        parts: dict[int, dict[str, str]] = {}
        for blob in container.list_blobs(name_starts_with=f"{PREFIX}{model}/"):
            found = _PART.search(blob.name)
            if found:
                parts.setdefault(int(found.group(2)), {})[found.group(1)] = blob.name
        return parts

    def _find_segment(self, container: ContainerClient, model: str) -> tuple[int, int]:
        """The live segment and its block count (another instance may have appended); a
        sealed one left by an interrupted compaction is compacted first."""
        parts = self._parts(container, model)
        if not parts:
            return 0, 0
        index = max(parts)
        if "seg" not in parts[index]:
            return index + 1, 0
        props = container.get_blob_client(parts[index]["seg"]).get_blob_properties()
        if props.is_append_blob_sealed:
            self._compact(container, model, index)
            return index + 1, 0
        return index, int(props.append_blob_committed_block_count or 0)

    def _compact(self, container: ContainerClient, model: str, index: int) -> None:
        """Seal segment `index`, rewrite it as its chunk (one block blob), delete it."""
        segment = container.get_blob_client(_segment(model, index))
        try:
            segment.seal_append_blob()
            body = segment.download_blob().readall()
        except ResourceNotFoundError:
            return  # compacted by another instance already
        container.get_blob_client(_chunk(model, index)).upload_blob(
            encode_chunk(model, body), overwrite=True, content_settings=_BINARY)
        with contextlib.suppress(ResourceNotFoundError):
            segment.delete_blob()

    # ------------------------------------------------------------------ reads

    def read(self, model: str) -> list[TrendPoint]:
        container = self._service.get_container_client(self._container_name)
        for attempt in range(3):
            try:
                parts = self._parts(container, model)
                names = [p.get("chunk") or p["seg"] for _, p in sorted(parts.items())]
                bodies = self._download(container, names)
            except ResourceNotFoundError:
                if not container.exists():
                    return []
                if attempt == 2:
                    raise
                continue  # a segment was compacted while we read: list again
            return decode_records(model, bodies)
        return []

    def _download(self, container: ContainerClient, names: list[str]) -> list[bytes]:
        """Every part, in order; a few at a time (each is a round trip)."""
        def one(name: str) -> bytes:
            return bytes(container.get_blob_client(name).download_blob().readall())

        if len(names) <= 1:
            return [one(n) for n in names]
        with ThreadPoolExecutor(max_workers=min(4, len(names))) as pool:
            return list(pool.map(one, names))

    def latest(self, model: str) -> TrendPoint | None:
        client = self._service.get_blob_client(self._container_name,
                                               f"{PREFIX}{model}/latest.bin")
        try:
            body = client.download_blob().readall()
        except ResourceNotFoundError:
            return None
        points = decode_records(model, [body])
        return points[-1] if points else None

    def models(self) -> list[str]:
        container = self._service.get_container_client(self._container_name)
        try:
            return sorted(p.name[len(PREFIX):].rstrip("/")
                          for p in container.walk_blobs(name_starts_with=PREFIX, delimiter="/"))
        except ResourceNotFoundError:
            return []
