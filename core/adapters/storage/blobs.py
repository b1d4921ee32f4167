"""Blob storage: inference files (streamed, never whole in memory), quarantine records and
artifacts. The same code talks to Azure and to Azurite."""

from __future__ import annotations

import contextlib
import io
from typing import BinaryIO

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from core.domain.ingestion import BlobRef
from core.ports import Conflict, NotFound

# What one read of the CSV parser takes; the download itself stays in 6 MiB requests
# (each also held whole by the SDK), so a buffer of a whole chunk here would only add a copy.
_READ_BUFFER = 1024 * 1024


class _DownloadStream(io.RawIOBase):
    """A raw reader over a blob download, fetched chunk by chunk (never the whole blob).

    It walks the SDK's chunk iterator and hands out slices of the current chunk, which it lets
    go of before the next is fetched: the downloader's own ``read(size)`` keeps the previous
    chunk while it fetches the next one, and copies each read three times over (a slice, a
    BytesIO and its value)."""

    def __init__(self, downloader, path: str):
        self._chunks = downloader.chunks()
        self._view = memoryview(b"")
        self._path = path

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._view:
            self._view = memoryview(b"")  # the spent chunk is freed before the next arrives
            try:
                chunk = next(self._chunks, None)
            except ResourceModifiedError:  # a later chunk's request carries the first's ETag
                raise Conflict(f"blob {self._path} changed while it was read") from None
            if chunk is None:
                return 0
            self._view = memoryview(chunk)
        n = min(len(buffer), len(self._view))
        buffer[:n] = self._view[:n]
        self._view = self._view[n:]
        return n


class AzureBlobStore:
    def __init__(self, service: BlobServiceClient):
        self._service = service
        self._ensured: set[str] = set()

    def _container(self, name: str):
        client = self._service.get_container_client(name)
        if name not in self._ensured:
            with contextlib.suppress(ResourceExistsError):
                client.create_container()
            self._ensured.add(name)
        return client

    def properties(self, ref: BlobRef) -> BlobRef:
        client = self._service.get_blob_client(ref.container, ref.name)
        try:
            props = client.get_blob_properties()
        except ResourceNotFoundError:
            raise NotFound(f"blob {ref.path} does not exist") from None
        return ref.with_properties(etag=props.etag, size=props.size, url=client.url)

    def open(self, ref: BlobRef) -> BinaryIO:
        client = self._service.get_blob_client(ref.container, ref.name)
        try:
            if ref.etag:
                downloader = client.download_blob(
                    max_concurrency=1, etag=ref.etag, match_condition=MatchConditions.IfNotModified)
            else:
                downloader = client.download_blob(max_concurrency=1)
        except ResourceNotFoundError:
            raise NotFound(f"blob {ref.path} does not exist") from None
        except ResourceModifiedError:
            raise Conflict(f"blob {ref.path} changed since ETag {ref.etag}") from None
        return io.BufferedReader(_DownloadStream(downloader, ref.path), buffer_size=_READ_BUFFER)

    def write_text(self, container: str, blob_name: str, text: str, content_type: str) -> str:
        client = self._container(container).get_blob_client(blob_name)
        client.upload_blob(
            text.encode("utf-8"), overwrite=True,
            content_settings=ContentSettings(content_type=content_type),
        )
        return client.url

    def read_text(self, container: str, blob_name: str) -> str:
        client = self._service.get_blob_client(container, blob_name)
        try:
            return client.download_blob().readall().decode("utf-8")
        except ResourceNotFoundError:
            raise NotFound(f"blob {container}/{blob_name} does not exist") from None

    def upload(self, container: str, blob_name: str, data: bytes | BinaryIO) -> BlobRef:
        """Upload (overwrite) a blob; used by the demo, the tests and operators' tools."""
        client = self._container(container).get_blob_client(blob_name)
        result = client.upload_blob(data, overwrite=True)
        return BlobRef(container, blob_name, etag=result["etag"], url=client.url)


class BlobArtifacts:
    """Workspace-side artifacts kept in a blob container (the Azure backend)."""

    def __init__(self, service: BlobServiceClient, container: str):
        self._service = service
        self._container = container
        self._created = False

    def put_artifact(self, key: str, content: bytes) -> None:
        container = self._service.get_container_client(self._container)
        if not self._created:
            with contextlib.suppress(ResourceExistsError):
                container.create_container()
            self._created = True
        container.get_blob_client(key).upload_blob(content, overwrite=True)

    def get_artifact(self, key: str) -> bytes | None:
        client = self._service.get_blob_client(self._container, key)
        try:
            return client.download_blob().readall()
        except ResourceNotFoundError:
            return None


