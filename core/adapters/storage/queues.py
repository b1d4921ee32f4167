"""Storage queues (the retraining requests and their poison queue)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from core.adapters.storage.clients import queue_client
from core.ports import QueuedMessage
from core.settings import StorageConnection

if TYPE_CHECKING:
    from core.adapters.credentials import CredentialSource


class StorageQueue:
    """`MessageQueue` over an Azure storage queue, base64-encoded as host.json's
    `messageEncoding` tells the Functions queue trigger to read it."""

    def __init__(self, connection: StorageConnection, name: str,
                 credentials: CredentialSource | None = None):
        from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy

        self.name = name
        self._client = queue_client(
            connection, name, credentials,
            message_encode_policy=BinaryBase64EncodePolicy(),
            message_decode_policy=BinaryBase64DecodePolicy(),
        )
        self._created = False

    def _ensure(self) -> None:
        if not self._created:
            with contextlib.suppress(ResourceExistsError):
                self._client.create_queue()
            self._created = True

    @staticmethod
    def _message(m) -> QueuedMessage:
        body = m.content.decode("utf-8", errors="replace") if isinstance(m.content, bytes) \
            else str(m.content)
        inserted = m.inserted_on.isoformat() if getattr(m, "inserted_on", None) else None
        return QueuedMessage(m.id, body, int(m.dequeue_count or 0), inserted,
                             getattr(m, "pop_receipt", None))

    def send(self, body: str) -> str:
        self._ensure()
        return self._client.send_message(body.encode("utf-8")).id

    def peek(self, limit: int = 32) -> list[QueuedMessage]:
        self._ensure()
        return [self._message(m) for m in self._client.peek_messages(max_messages=limit)]

    def approximate_count(self) -> int:
        self._ensure()
        return int(self._client.get_queue_properties().approximate_message_count or 0)

    def receive(self, limit: int = 32, visibility_seconds: int = 30) -> list[QueuedMessage]:
        self._ensure()
        messages = self._client.receive_messages(
            messages_per_page=limit, max_messages=limit, visibility_timeout=visibility_seconds
        )
        return [self._message(m) for m in messages]

    def delete(self, message: QueuedMessage) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._client.delete_message(message.id, message.pop_receipt)

    def release(self, message: QueuedMessage) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._client.update_message(message.id, message.pop_receipt, visibility_timeout=0)


