"""The one place storage SDK clients are built, from a `StorageConnection` (a connection string
or the Functions host's identity form), so the trigger and our own clients reach the same
account with the same identity.

Every client carries a response hook that turns a refusal (401/403: the identity lacks a data
role, shared keys are disabled, a firewall rule) into `StorageAccessDenied`, logged once per
request with the connection, account, operation, error code, identity and the role to grant.
Nothing is lost by it: the caller's operation fails, so a trigger raises and the host retries
it later, and the blob stays where it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core.settings import StorageConnection

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueClient

    from core.adapters.credentials import CredentialSource

log = logging.getLogger(__name__)

# Each download request's body is held twice while the SDK joins it (its pieces and the
# result): 6 MiB keeps that spike at 12 MiB; 8 MiB was 4 MB more at the 115 MB ingest bench's
# peak, and 4 MiB took twice as long from Azurite (0.6 s against 0.27 s for that file).
_DOWNLOAD_CHUNK = 6 * 1024 * 1024

# The data role an identity needs for what this app does with each service.
ROLE_FOR_SERVICE = {
    "blob": "Storage Blob Data Contributor",
    "queue": "Storage Queue Data Contributor",
    "table": "Storage Table Data Contributor",
}


# Refusals by error code, whatever the status (Azurite answers a wrong key with 400
# InvalidAuthenticationInfo; Azure with 403 AuthenticationFailed).
_REFUSAL_CODES = {"AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch",
                  "InvalidAuthenticationInfo", "KeyBasedAuthenticationNotPermitted",
                  "AuthorizationSourceIPMismatch", "AuthorizationProtocolMismatch"}


class StorageAccessDenied(PermissionError):
    """Storage refused this app's identity or key (HTTP 401/403). A retry succeeds only once
    someone grants the role (or fixes the key); the message says which."""

    def __init__(self, message: str, *, connection: str, service: str, status: int,
                 error_code: str | None):
        super().__init__(message)
        self.connection = connection
        self.service = service
        self.status = status
        self.error_code = error_code


def _refusal_hook(connection: StorageConnection, service: str) -> Callable[[Any], None]:
    def hook(pipeline_response: Any) -> None:
        response = pipeline_response.http_response
        code = response.headers.get("x-ms-error-code")
        if response.status_code not in (401, 403) and code not in _REFUSAL_CODES:
            return
        request = pipeline_response.http_request
        operation = f"{request.method} {urlsplit(request.url).path}"
        if connection.uses_identity:
            fix = (f"grant {connection.identity} the {ROLE_FOR_SERVICE[service]} role on the "
                   f"account (a new assignment takes minutes to apply)")
        else:
            fix = ("check the key or SAS in the connection string (or use the identity form: "
                   "the account may have shared-key access disabled)")
        # Most useful first: health shows the first 300 characters.
        message = (
            f"storage refused {connection.name} ({service}, account {connection.account}) "
            f"with {response.status_code} {code or response.reason}: {fix}; "
            f"request {operation}"
        )
        log.error(message)
        raise StorageAccessDenied(message, connection=connection.name, service=service,
                                  status=response.status_code, error_code=code)

    return hook


def _credential(connection: StorageConnection, credentials: CredentialSource | None):
    if credentials is None:
        from core.adapters.credentials import AzureCredentials

        credentials = AzureCredentials()
    return credentials.for_storage(connection)


def blob_service(connection: StorageConnection, credentials: CredentialSource | None = None,
                 **extra: Any) -> BlobServiceClient:
    """`extra`: more client options (e.g. the health probes' retry and timeout bounds)."""
    from azure.storage.blob import BlobServiceClient

    options: dict[str, Any] = {
        "max_single_get_size": _DOWNLOAD_CHUNK, "max_chunk_get_size": _DOWNLOAD_CHUNK,
        "raw_response_hook": _refusal_hook(connection, "blob"), **extra,
    }
    if connection.connection_string is not None:
        return BlobServiceClient.from_connection_string(connection.connection_string, **options)
    return BlobServiceClient(connection.service_uri("blob"),
                             credential=_credential(connection, credentials), **options)


def table_service(connection: StorageConnection, credentials: CredentialSource | None = None,
                  **extra: Any) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    options: dict[str, Any] = {"raw_response_hook": _refusal_hook(connection, "table"), **extra}
    if connection.connection_string is not None:
        return TableServiceClient.from_connection_string(connection.connection_string,
                                                         **options)
    return TableServiceClient(connection.service_uri("table"),
                              credential=_credential(connection, credentials), **options)


def queue_client(connection: StorageConnection, name: str,
                 credentials: CredentialSource | None = None, **options: Any) -> QueueClient:
    from azure.storage.queue import QueueClient

    options["raw_response_hook"] = _refusal_hook(connection, "queue")
    if connection.connection_string is not None:
        return QueueClient.from_connection_string(connection.connection_string, name, **options)
    return QueueClient(connection.service_uri("queue"), name,
                       credential=_credential(connection, credentials), **options)
