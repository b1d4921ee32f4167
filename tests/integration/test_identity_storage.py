"""The token path, for real: Azurite over HTTPS with OAuth (a self-signed certificate made
here), the app's connections in the Functions host's identity form (`NAME__blobServiceUri`,
`__credential=managedidentity`, `__clientId`), and the clients signing in with azure-identity's
own `ManagedIdentityCredential` against a loopback stand-in for the App Service identity
endpoint (what it calls on Azure Functions). No connection string is set: a shared key cannot
carry any of this.

Azurite checks a token's issuer, audience and lifetime but has no role assignments, so "an
identity without the role" is an identity whose token storage refuses with 403, as Azure
refuses a role-less identity (Azure's error code is AuthorizationPermissionMismatch, Azurite's
AuthenticationFailed)."""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from core.settings import StorageConnection, load_settings
from devtools.azurite import azurite_process, endpoints, self_signed_certificate
from tests.identity import FakeIdentityEndpoint, StaticTokenCredential
from tests.samples import GOOD_CSV, REFERENCE_CSV

pytestmark = pytest.mark.azurite

MODEL = "credit-model"
APP_IDENTITY = "3f0c1c1e-8a54-4a8e-9a53-1f6a2a0c0d11"
ROLELESS_IDENTITY = "9d7e5b2a-1c3f-4e8d-b6a0-7f2e4c9d1a22"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def oauth_azurite(tls, tmp_path_factory):
    with azurite_process(tmp_path_factory.mktemp("azurite"), https=tls, oauth=True) as (conn, _):
        yield endpoints(conn)


@pytest.fixture(scope="module")
def identity_endpoint():
    with FakeIdentityEndpoint(with_role={APP_IDENTITY}).running() as endpoint:
        yield endpoint


@pytest.fixture
def identity_env(oauth_azurite, tls, identity_endpoint, tmp_path, monkeypatch):
    """The app's settings with both connections in identity form, as infra/ sets them."""
    from core.bootstrap import reset_services

    suffix = uuid.uuid4().hex[:10]
    for name in ("AzureWebJobsStorage", "INFERENCE_STORAGE", "AZURE_SUBSCRIPTION_ID",
                 "AZURE_CLIENT_ID", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT"):
        monkeypatch.delenv(name, raising=False)
    values = {
        # TLS: the clients (ours and the blob binding's) trust the test's own certificate.
        "REQUESTS_CA_BUNDLE": str(tls[0]),
        # What ManagedIdentityCredential reads on Azure Functions.
        "IDENTITY_ENDPOINT": identity_endpoint.url,
        "IDENTITY_HEADER": identity_endpoint.SECRET,
        "INFERENCE_CONTAINER": f"inference-{suffix}",
        "QUARANTINE_CONTAINER": f"quarantine-{suffix}",
        "ARTIFACTS_CONTAINER": f"artifacts-{suffix}",
        "LEDGER_TABLE_PREFIX": f"t{suffix}",
        "AUTOPILOT_BACKEND": "local",
        "LOCAL_WORKSPACE_DIR": str(tmp_path / "workspace"),
        "RETRAIN_QUEUE": f"retrain-{suffix}",
    }
    for connection, services in (("AzureWebJobsStorage", ("blob", "queue", "table")),
                                 ("INFERENCE_STORAGE", ("blob", "queue"))):
        for service in services:
            values[f"{connection}__{service}ServiceUri"] = oauth_azurite[service]
        values[f"{connection}__credential"] = "managedidentity"
        values[f"{connection}__clientId"] = APP_IDENTITY
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    identity_endpoint.requests.clear()
    reset_services()
    yield values
    reset_services()


def _as_identity(monkeypatch, client_id: str) -> None:
    from core.bootstrap import reset_services

    for connection in ("AzureWebJobsStorage", "INFERENCE_STORAGE"):
        monkeypatch.setenv(f"{connection}__clientId", client_id)
    reset_services()


def _register_reference(tmp_path):
    from core.bootstrap import services

    path = tmp_path / "reference.csv"
    path.write_text(REFERENCE_CSV)
    services().workspace.register_file_version(f"{MODEL}-training", "1", path,
                                               tags={"purpose": "reference"})


# ------------------------------------------------------------------ what Azurite checks


def _connection(uri: str) -> StorageConnection:
    return StorageConnection("TEST_STORAGE", blob_uri=uri, credential="managedidentity",
                             client_id=APP_IDENTITY)


class _Source:
    """A `CredentialSource` handing every connection one token credential."""

    def __init__(self, credential):
        self.credential = credential

    def for_storage(self, connection):
        return self.credential

    def default(self):
        return self.credential


NOW = int(time.time())


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({}, True),
        ({"aud": "https://devstoreaccount1.blob.core.windows.net"}, True),  # account audience
        ({"aud": "https://management.azure.com"}, False),
        ({"aud": "https://otheraccount.blob.core.windows.net"}, False),
        ({"iss": None}, False),
        ({"iss": "https://login.microsoftonline.com/tenant/v2.0"}, False),  # not a v1 issuer
        ({"exp": NOW - 60}, False),
        ({"nbf": NOW + 3600}, False),
        ({"iat": None}, False),
    ],
)
def test_the_claims_azurite_checks_in_basic_oauth_mode(oauth_azurite, tls, monkeypatch, claims,
                                                       accepted):
    from core.adapters.storage import StorageAccessDenied, blob_service

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))
    credential = StaticTokenCredential(claims)
    client = blob_service(_connection(oauth_azurite["blob"]), _Source(credential))
    container = client.get_container_client(f"claims-{uuid.uuid4().hex[:12]}")
    if accepted:
        container.create_container()
        assert container.exists()
    else:
        with pytest.raises(StorageAccessDenied, match=r"TEST_STORAGE .*403 AuthenticationFailed"):
            container.create_container()
    # The storage SDK asks for the storage audience.
    assert credential.scopes[0] == ("https://storage.azure.com/.default",)


def test_tables_and_queues_sign_in_with_the_token_and_a_refusal_names_the_role(
        oauth_azurite, tls, monkeypatch):
    from core.adapters.storage import StorageAccessDenied, StorageQueue, TableStateStore
    from core.adapters.storage import table_service as make_table_service

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))
    conn = StorageConnection("TEST_STORAGE", blob_uri=oauth_azurite["blob"],
                             queue_uri=oauth_azurite["queue"], table_uri=oauth_azurite["table"],
                             credential="managedidentity", client_id=APP_IDENTITY)
    good = _Source(StaticTokenCredential())
    prefix = f"t{uuid.uuid4().hex[:8]}"
    state = TableStateStore(make_table_service(conn, good), prefix)
    stored = state.create("kind", "key", {"a": 1})
    assert state.get("kind", "key").doc == {"a": 1} and stored.etag
    queue = StorageQueue(conn, f"q-{uuid.uuid4().hex[:8]}", good)
    queue.send('{"model": "m"}')
    assert [m.body for m in queue.peek()] == ['{"model": "m"}']

    refused = _Source(StaticTokenCredential({"aud": "https://management.azure.com"}))
    with pytest.raises(StorageAccessDenied, match="Storage Table Data Contributor"):
        TableStateStore(make_table_service(conn, refused), prefix).get("kind", "key")
    with pytest.raises(StorageAccessDenied, match="Storage Queue Data Contributor"):
        StorageQueue(conn, queue.name, refused).peek()


# ------------------------------------------------------------------ the ingestion slice


def test_ingestion_runs_on_identity_connections_with_the_managed_identity(
        identity_env, identity_endpoint, tmp_path):
    import json

    from core.bootstrap import services
    from devtools.invoke import LocalHost

    svc = services()
    assert svc.settings.storage_connection.uses_identity
    assert svc.settings.inference_connection.client_id == APP_IDENTITY
    _register_reference(tmp_path)
    container = identity_env["INFERENCE_CONTAINER"]
    svc.blob_store.upload(container, f"{MODEL}/batches/good.csv", GOOD_CSV.encode())
    svc.blob_store.upload(container, f"{MODEL}/batches/bad.csv", b"age;income\n1;2\n")

    host = LocalHost()
    good = host.blob(f"{container}/{MODEL}/batches/good.csv")
    bad = host.blob(f"{container}/{MODEL}/batches/bad.csv")
    assert good.ok, good.error
    assert bad.ok, bad.error

    # The ledger (Table storage) through the admin API.
    response = host.http("GET", f"/api/models/{MODEL}/ingestions")
    assert response.status_code == 200
    records = {r["blob"]["name"].rsplit("/", 1)[-1]: r
               for r in json.loads(response.get_body())["ingestions"]}
    assert records["good.csv"]["status"] == "registered"
    assert records["good.csv"]["data_asset"] == {"name": f"{MODEL}-inference", "version": "1"}
    assert records["bad.csv"]["status"] == "rejected"
    # The quarantine record, written to the inference account with the identity.
    q_container, q_name = records["bad.csv"]["quarantine_record"].split("/", 1)
    quarantine = json.loads(svc.blob_store.read_text(q_container, q_name))
    assert quarantine["reason"]["code"] == "wrong_delimiter"
    # The file itself is untouched.
    assert svc.blob_store.read_text(container, f"{MODEL}/batches/bad.csv") == "age;income\n1;2\n"

    assert host.http("GET", "/api/health").status_code == 200
    health = host.http("GET", "/api/health/details")
    body = json.loads(health.get_body())
    assert health.status_code == 200, body
    assert body["settings"]["storage_connection"]["form"] == "identity"
    assert body["settings"]["storage_connection"]["client_id"] == APP_IDENTITY
    # Every token came from the managed identity, for storage, as the configured identity.
    assert identity_endpoint.requests
    assert {(r.client_id, r.resource, r.api_version) for r in identity_endpoint.requests} == {
        (APP_IDENTITY, "https://storage.azure.com", "2019-08-01")}


def test_an_identity_without_the_role_is_named_and_loses_no_file(
        identity_env, identity_endpoint, monkeypatch, caplog, tmp_path):
    import json

    from core.bootstrap import services
    from devtools.invoke import LocalHost

    _register_reference(tmp_path)
    container = identity_env["INFERENCE_CONTAINER"]
    name = f"{MODEL}/batches/refused.csv"
    services().blob_store.upload(container, name, GOOD_CSV.encode())

    _as_identity(monkeypatch, ROLELESS_IDENTITY)
    host = LocalHost()
    with caplog.at_level(logging.ERROR):
        result = host.blob(f"{container}/{name}")
    # The invocation fails, so the host retries the delivery later.
    assert not result.ok
    assert type(result.error).__name__ == "StorageAccessDenied"
    message = str(result.error)
    # The first call refused: reading the blob's properties on the inference account.
    for part in ("storage refused INFERENCE_STORAGE (blob", "devstoreaccount1", "HEAD /",
                 "403 AuthenticationFailed", ROLELESS_IDENTITY,
                 "Storage Blob Data Contributor"):
        assert part in message, (part, message)
    assert message in [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]

    health = host.http("GET", "/api/health")
    assert health.status_code == 503
    assert json.loads(health.get_body())["failing"] == ["inference_storage", "queue_storage",
                                                         "table_storage"]
    details = json.loads(host.http("GET", "/api/health/details").get_body())
    for probe, connection, role in (
            ("table_storage", "AzureWebJobsStorage", "Storage Table Data Contributor"),
            ("queue_storage", "AzureWebJobsStorage", "Storage Queue Data Contributor"),
            ("inference_storage", "INFERENCE_STORAGE", "Storage Blob Data Contributor")):
        error = details["errors"][probe]
        assert error.startswith(f"StorageAccessDenied: storage refused {connection}"), error
        assert role in error and ROLELESS_IDENTITY in error, error

    # Nothing was lost: the file is there, unchanged, and nothing was recorded against it.
    _as_identity(monkeypatch, APP_IDENTITY)
    assert services().blob_store.read_text(container, name) == GOOD_CSV
    assert services().ledger.list(model=MODEL) == []

    # The role is granted; the host's next delivery of the same event goes through.
    identity_endpoint.with_role.add(ROLELESS_IDENTITY)
    try:
        _as_identity(monkeypatch, ROLELESS_IDENTITY)
        retried = LocalHost().blob(f"{container}/{name}")
        assert retried.ok, retried.error
        [record] = services().ledger.list(model=MODEL)
        assert record.status == "registered"
    finally:
        identity_endpoint.with_role.discard(ROLELESS_IDENTITY)


def test_azure_ml_signs_in_as_the_same_user_assigned_identity(identity_endpoint, monkeypatch):
    """DefaultAzureCredential, as the workspace gets it, asks the managed identity endpoint for
    the client id the storage connection names (AZURE_CLIENT_ID unset)."""
    from core.bootstrap import build_services

    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
                 "AZURE_FEDERATED_TOKEN_FILE", "MSI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", identity_endpoint.url)
    monkeypatch.setenv("IDENTITY_HEADER", identity_endpoint.SECRET)
    settings = load_settings({
        "AzureWebJobsStorage__accountName": "sthost01",
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": APP_IDENTITY,
    })
    identity_endpoint.requests.clear()
    credential = build_services(settings).credentials.default()
    token = credential.get_token("https://management.azure.com/.default")
    assert token.token
    assert [(r.client_id, r.resource) for r in identity_endpoint.requests] == [
        (APP_IDENTITY, "https://management.azure.com")]


def test_a_refused_connection_string_says_to_check_the_key(oauth_azurite, tls, monkeypatch):
    from core.adapters.storage import StorageAccessDenied, blob_service

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
    conn = StorageConnection("AzureWebJobsStorage", connection_string=(
        f"DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey={wrong_key};"
        f"BlobEndpoint={oauth_azurite['blob']};"))
    with pytest.raises(StorageAccessDenied, match="check the key or SAS") as refused:
        blob_service(conn).get_container_client("keyed").create_container()
    assert wrong_key not in str(refused.value)


def test_the_credential_factory_builds_what_the_host_would(identity_endpoint):
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    from core.adapters.credentials import AzureCredentials

    credentials = AzureCredentials(client_id=APP_IDENTITY)
    user_assigned = StorageConnection("S", blob_uri="https://a.blob.core.windows.net",
                                      credential="managedidentity", client_id=APP_IDENTITY)
    default = StorageConnection("S", blob_uri="https://a.blob.core.windows.net")
    assert isinstance(credentials.for_storage(user_assigned), ManagedIdentityCredential)
    assert isinstance(credentials.for_storage(default), DefaultAzureCredential)
    # One credential (one token cache) per identity.
    assert credentials.for_storage(user_assigned) is credentials.for_storage(user_assigned)
    assert credentials.for_storage(default) is credentials.default()
