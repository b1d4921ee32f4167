"""The blob reader streams a file chunk by chunk from Azurite: every byte in order whatever
the read sizes, and a blob overwritten while it is read is a Conflict, not a mix of both."""

from __future__ import annotations

import os
import uuid

import pytest

from core.adapters.storage.blobs import AzureBlobStore
from core.adapters.storage.clients import blob_service
from core.domain.ingestion import BlobRef
from core.ports import Conflict
from core.settings import StorageConnection

CHUNK = 256 * 1024  # small requests, so a few hundred KiB span several chunks


@pytest.fixture
def store_and_container(azurite_connection):
    service = blob_service(StorageConnection("TEST", connection_string=azurite_connection),
                           max_single_get_size=CHUNK, max_chunk_get_size=CHUNK)
    container = f"stream-{uuid.uuid4().hex[:10]}"
    service.create_container(container)
    yield AzureBlobStore(service), service, container
    service.delete_container(container)


def _upload(service, container: str, data: bytes) -> BlobRef:
    name = f"m/{uuid.uuid4().hex[:8]}.csv"
    service.get_blob_client(container, name).upload_blob(data)
    props = service.get_blob_client(container, name).get_blob_properties()
    return BlobRef(container, name, etag=props.etag, size=props.size)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 12_345])
def test_every_byte_arrives_in_order_whatever_the_read_sizes(store_and_container, size):
    store, service, container = store_and_container
    data = os.urandom(size)
    ref = _upload(service, container, data)
    with store.open(ref) as stream:
        assert stream.read() == data
    with store.open(ref) as stream:
        parts, reads = [], [7, CHUNK + 3, 1, 2 * CHUNK, 100_000]
        while True:
            part = stream.read(reads[len(parts) % len(reads)])
            if not part:
                break
            parts.append(part)
        assert b"".join(parts) == data
    with store.open(ref) as stream:  # readinto, as the parser's chain reads
        buffer = bytearray(CHUNK // 3)
        got = bytearray()
        while n := stream.readinto(buffer):
            got += buffer[:n]
        assert bytes(got) == data


def test_a_blob_overwritten_while_it_is_read_is_a_conflict(store_and_container):
    store, service, container = store_and_container
    ref = _upload(service, container, os.urandom(4 * CHUNK))
    with store.open(ref) as stream:
        stream.read(CHUNK // 2)  # within the first chunk, fetched when opened
        service.get_blob_client(container, ref.name).upload_blob(os.urandom(4 * CHUNK),
                                                                 overwrite=True)
        with pytest.raises(Conflict, match="changed while it was read"):
            stream.read()
