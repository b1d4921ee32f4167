"""Azure credentials, built in one place: storage connections in identity form, the Azure ML
workspace, and whatever else signs in with Entra ID (telemetry, Event Grid publishing).

One credential object per identity, so its token cache is shared by every client using it.
Tests replace `Services.credentials` with a source of their own (e.g. a token credential that
Azurite's OAuth mode accepts).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

from core.settings import StorageConnection

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


class CredentialSource(Protocol):
    def for_storage(self, connection: StorageConnection) -> TokenCredential:
        """The credential of an identity-based storage connection."""
        ...

    def default(self) -> TokenCredential:
        """DefaultAzureCredential for the app's identity (Azure ML and other Entra ID APIs)."""
        ...


class AzureCredentials:
    """The credentials the Functions host would use for the same settings:
    `NAME__credential=managedidentity` -> `ManagedIdentityCredential(client_id=NAME__clientId)`
    (the system-assigned identity without a client id); no `__credential` ->
    `DefaultAzureCredential` (managed identity on Azure, the developer's sign-in locally).
    `default()` is `DefaultAzureCredential(managed_identity_client_id=client_id)`, so Azure ML
    signs in as the same user-assigned identity as storage."""

    def __init__(self, client_id: str | None = None):
        self.client_id = client_id
        self._made: dict[tuple[str, str | None], TokenCredential] = {}
        self._lock = threading.Lock()

    def _once(self, key: tuple[str, str | None], make) -> TokenCredential:
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            return self._made[key]

    def for_storage(self, connection: StorageConnection) -> TokenCredential:
        if connection.credential == "managedidentity":
            from azure.identity import ManagedIdentityCredential

            client_id = connection.client_id
            return self._once(("managedidentity", client_id),
                              lambda: ManagedIdentityCredential(client_id=client_id))
        return self.default()  # settings allow __clientId only with __credential

    def default(self) -> TokenCredential:
        return self._once(("default", self.client_id), self._default)

    def _default(self) -> TokenCredential:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(managed_identity_client_id=self.client_id)
