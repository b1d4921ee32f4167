"""The Azure ML adapter driven through azure-ai-ml's real operations objects, with only the HTTP
transport replaced.

`MLClient(..., transport=...)` hands our transport to every ARM service client and to its
`requests_pipeline` (used for the MLTable JSON schema download). Our transport is azure-core's own
`RequestsTransport` over a `requests.Session` whose adapter answers from an in-memory fake of the
service, so everything above the socket (azure-core pipeline, policies, generated clients,
serialisation, LRO polling) is the SDK's own and the recorded URLs, methods and bodies are the ones
it would send to Azure.

Uploads and downloads of files go through azure-storage-blob's `BlobServiceClient`, which
azure-ai-ml builds itself without passing MLClient's kwargs on. The only way to give it a
transport is at construction: `storage_transport` swaps the class azure-ai-ml's blob helper
instantiates for a subclass that adds `transport=` (nothing else changes), so the blob requests
are the storage SDK's real ones too, answered by the same fake.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import hashlib
import io
import json
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse

from core.adapters.azureml.schedule import build_monitor_schedule
from core.adapters.azureml.workspace import AzureMLWorkspace, UnreadableData
from core.domain.assets import DataAssetVersion, MLTable
from core.domain.monitoring import AssetRef, MonitorSpec, MonitorTrigger
from core.domain.retraining import JobStatus
from core.ports import NotFound, PermanentError, WorkspaceError

SUB, RG, WS = "00000000-0000-0000-0000-000000000001", "rg-test", "ws-test"
WS_PATH = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
    f"Microsoft.MachineLearningServices/workspaces/{WS}"
)
ACCOUNT = "wsstorage"
BLOB_HOST = f"{ACCOUNT}.blob.core.windows.net"
DEFAULT_CONTAINER = "azureml-blobstore-0001"
INFERENCE_CONTAINER = "inference"
ACCOUNT_KEY = base64.b64encode(b"k" * 64).decode()
FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Recorded:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.url).path)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query)

    def json(self) -> Any:
        return json.loads(self.body)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


def _system_data(created: str) -> dict:
    return {
        "createdAt": created,
        "createdBy": "tester@example.com",
        "createdByType": "User",
        "lastModifiedAt": created,
        "lastModifiedBy": "tester@example.com",
        "lastModifiedByType": "User",
    }


def _error(status: int, code: str, message: str) -> tuple[int, dict, Any]:
    return status, {"x-ms-error-code": code}, {"error": {"code": code, "message": message}}


@dataclass
class FakeAzureML:
    """Answers ARM (management.azure.com), the MLTable schema host and blob storage the way the
    services do, for the calls the adapter makes. Unknown calls get 404 and are recorded."""

    requests: list[Recorded] = field(default_factory=list)
    data: dict[tuple[str, str], dict] = field(default_factory=dict)
    models: dict[tuple[str, str], dict] = field(default_factory=dict)
    schedules: dict[str, dict] = field(default_factory=dict)
    jobs: dict[str, dict] = field(default_factory=dict)
    components: dict[tuple[str, str], dict] = field(default_factory=dict)
    # Items per page of a list that pages (model containers), as the service's `nextLink`.
    page_size: int = 100
    blobs: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    # (method, path regex) -> list of canned (status, headers, body) returned first, in order.
    faults: list[tuple[str, str, Any]] = field(default_factory=list)
    unknown: list[Recorded] = field(default_factory=list)
    clock: int = 0

    # -- dispatch ----------------------------------------------------------------------------

    def __call__(self, req: Recorded) -> tuple[int, dict, Any]:
        self.requests.append(req)
        for i, (method, pattern, response) in enumerate(self.faults):
            if method == req.method and re.search(pattern, req.path):
                del self.faults[i]
                return response(req) if callable(response) else response
        host = urlsplit(req.url).hostname
        if host == "management.azure.com":
            return self._arm(req)
        if host == BLOB_HOST:
            return self._blob(req)
        if host and host.startswith("azuremlschemas"):
            # The SDK validates MLTable files against this JSON schema when it can fetch it.
            return 200, {}, {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}
        self.unknown.append(req)
        return _error(404, "NotFound", f"fake: no route for {req.method} {req.url}")

    def calls(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        return [
            r for r in self.requests if (method is None or r.method == method) and contains in r.url
        ]

    def _tick(self) -> str:
        self.clock += 1
        return f"2025-01-01T00:00:{self.clock:02d}.000000+00:00"

    # -- ARM ---------------------------------------------------------------------------------

    def _arm(self, req: Recorded) -> tuple[int, dict, Any]:
        if req.path == WS_PATH and req.method == "GET":
            return 200, {}, self._workspace()
        if not req.path.startswith(WS_PATH + "/"):
            self.unknown.append(req)
            return _error(404, "ResourceNotFound", f"no route {req.path}")
        path = req.path[len(WS_PATH) :]
        routes = [
            (r"^/data/([^/]+)/versions/([^/]+)$", self._data_version),
            (r"^/data/([^/]+)/versions$", self._data_list),
            (r"^/data/([^/]+)$", self._data_container),
            (r"^/models/([^/]+)/versions/([^/]+)$", self._model_version),
            (r"^/models/([^/]+)/versions$", self._model_list),
            (r"^/models/([^/]+)$", self._model_container),
            (r"^/models$", self._model_containers),
            (r"^/jobs/([^/]+)$", self._job),
            (r"^/components/([^/]+)/versions/([^/]+)$", self._component_version),
            (r"^/datastores/([^/]+)/listSecrets$", self._list_secrets),
            (r"^/datastores/([^/]+)$", self._datastore),
            (r"^/datastores$", self._datastores),
            (r"^/schedules/([^/]+)/trigger$", self._schedule_trigger),
            (r"^/schedules/([^/]+)$", self._schedule),
            (r"^/schedules$", self._schedule_list),
        ]
        for pattern, handler in routes:
            m = re.match(pattern, path)
            if m:
                return handler(req, *m.groups())
        self.unknown.append(req)
        return _error(404, "ResourceNotFound", f"no route {path}")

    def _arm_resource(self, kind: str, rel: str, name: str, body: dict, created: str) -> dict:
        return {
            "id": f"{WS_PATH}/{rel}",
            "name": name,
            "type": f"Microsoft.MachineLearningServices/workspaces/{kind}",
            "properties": body.get("properties", {}),
            "systemData": _system_data(created),
        }

    # data -----------------------------------------------------------------------------------

    def _data_version(self, req: Recorded, name: str, version: str):
        key = (name, version)
        if req.method == "GET":
            if key not in self.data:
                return _error(404, "UserError", f"Could not find asset with name {name}")
            return 200, {}, self.data[key]
        if req.method == "PUT":
            body = req.json()
            props = body["properties"]
            if key in self.data:
                existing = self.data[key]["properties"]
                if existing.get("dataUri") != props.get("dataUri"):
                    return _error(
                        409,
                        "UserError",
                        "Conflict: asset version already exists with different data",
                    )
            resource = self._arm_resource(
                "data/versions", f"data/{name}/versions/{version}", version, body, self._tick()
            )
            resource["properties"] = {
                "isAnonymous": False,
                "isArchived": False,
                "properties": {},
                **props,
            }
            self.data[key] = resource
            return 201, {}, resource
        return _error(405, "MethodNotAllowed", req.method)

    def _data_list(self, req: Recorded, name: str):
        items = [v for (n, _), v in self.data.items() if n == name]
        return 200, {}, {"value": items}

    def _data_container(self, req: Recorded, name: str):
        versions = [v for (n, v) in self.data if n == name]
        if not versions:
            return _error(404, "UserError", f"Could not find data container {name}")
        latest = max(versions, key=lambda v: self.data[(name, v)]["systemData"]["createdAt"])
        return (
            200,
            {},
            {
                "id": f"{WS_PATH}/data/{name}",
                "name": name,
                "type": "Microsoft.MachineLearningServices/workspaces/data",
                "properties": {
                    "dataType": "mltable",
                    "isArchived": False,
                    "latestVersion": latest,
                    "nextVersion": str(len(versions) + 1),
                },
                "systemData": _system_data(self._tick()),
            },
        )

    # models ---------------------------------------------------------------------------------

    def _model_version(self, req: Recorded, name: str, version: str):
        key = (name, version)
        if req.method == "GET":
            if key not in self.models:
                return _error(404, "UserError", f"Could not find model {name}:{version}")
            return 200, {}, self.models[key]
        if req.method == "PUT":
            body = req.json()
            resource = self._arm_resource(
                "models/versions",
                f"models/{name}/versions/{version}",
                version,
                body,
                self._tick(),
            )
            # Defaults the service fills in (azure-ai-ml reads `flavors` unconditionally).
            resource["properties"] = {
                "flavors": {},
                "isAnonymous": False,
                "isArchived": False,
                "properties": {},
                "tags": {},
                "stage": "Development",
                **body["properties"],
            }
            self.models[key] = resource
            return 201, {}, resource
        return _error(405, "MethodNotAllowed", req.method)

    def _model_list(self, req: Recorded, name: str):
        items = [v for (n, _), v in self.models.items() if n == name]
        order = (req.query.get("$orderBy") or [""])[0]
        if "createdtime desc" in order.lower():
            items.sort(key=lambda r: r["systemData"]["createdAt"], reverse=True)
        top = req.query.get("$top")
        if top:
            items = items[: int(top[0])]
        return 200, {}, {"value": items}

    def _model_container(self, req: Recorded, name: str):
        versions = [int(v) for (n, v) in self.models if n == name and v.isdigit()]
        if req.method == "GET" and not versions:
            return _error(404, "UserError", f"Could not find model container {name}")
        return (
            200,
            {},
            {
                "id": f"{WS_PATH}/models/{name}",
                "name": name,
                "type": "Microsoft.MachineLearningServices/workspaces/models",
                "properties": {
                    "isArchived": False,
                    "latestVersion": str(max(versions)) if versions else None,
                    "nextVersion": str(max(versions, default=0) + 1),
                },
                "systemData": _system_data(self._tick()),
            },
        )

    def _model_containers(self, req: Recorded):
        """GET .../models: one container per model name, `page_size` a page; the next page is
        a `nextLink` carrying a `$skip` continuation token, as the service pages."""
        names = sorted({n for (n, _) in self.models})
        start = int((req.query.get("$skip") or ["0"])[0])
        page = names[start : start + self.page_size]
        body: dict[str, Any] = {
            "value": [self._model_container(req, n)[2] for n in page],
        }
        if start + self.page_size < len(names):
            body["nextLink"] = (
                f"https://management.azure.com{WS_PATH}/models"
                f"?api-version={req.query['api-version'][0]}"
                f"&$skip={start + self.page_size}&listViewType=ActiveOnly"
            )
        return 200, {}, body

    # workspace and components ---------------------------------------------------------------

    def _workspace(self) -> dict:
        return {
            "id": WS_PATH,
            "name": WS,
            "type": "Microsoft.MachineLearningServices/workspaces",
            "location": "westeurope",
            "kind": "Default",
            "properties": {
                "friendlyName": WS,
                "storageAccount": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
                f"Microsoft.Storage/storageAccounts/{ACCOUNT}",
                "discoveryUrl": "https://westeurope.api.azureml.ms/discovery",
                "mlFlowTrackingUri": "azureml://westeurope.api.azureml.ms/mlflow/v1.0" + WS_PATH,
                "workspaceId": "11111111-2222-3333-4444-555555555555",
                "provisioningState": "Succeeded",
            },
            "systemData": _system_data("2024-01-01T00:00:00.000000+00:00"),
        }

    def _component_version(self, req: Recorded, name: str, version: str):
        """A pipeline's inline steps are registered as anonymous components first."""
        if req.method == "GET":
            if (name, version) not in self.components:
                return _error(404, "UserError", f"Component {name}:{version} not found")
            return 200, {}, self.components[(name, version)]
        if req.method == "PUT":
            body = req.json()
            resource = self._arm_resource(
                "components/versions",
                f"components/{name}/versions/{version}",
                version,
                body,
                self._tick(),
            )
            self.components[(name, version)] = resource
            return 201, {}, resource
        return _error(405, "MethodNotAllowed", req.method)

    # jobs -----------------------------------------------------------------------------------

    def _job(self, req: Recorded, name: str):
        if req.method == "GET":
            if name not in self.jobs:
                return _error(404, "UserError", f"Job {name} not found in workspace {WS}")
            return 200, {}, self.jobs[name]
        if req.method == "PUT":
            body = req.json()
            if name in self.jobs:
                return _error(400, "UserError", f"A job with name {name} already exists")
            resource = self._arm_resource("jobs", f"jobs/{name}", name, body, self._tick())
            props = copy.deepcopy(body["properties"])
            # What the service adds: a status, the studio/tracking endpoints, an output path
            # for every output the job did not place, and the run's "default" artifacts output.
            props["status"] = "NotStarted"
            props["services"] = {
                "Studio": {
                    "jobServiceType": "Studio",
                    "endpoint": f"https://ml.azure.com/runs/{name}?wsid={WS_PATH}",
                },
                "Tracking": {
                    "jobServiceType": "Tracking",
                    "endpoint": "azureml://westeurope.api.azureml.ms/mlflow/v1.0" + WS_PATH,
                },
            }
            outputs = props.setdefault("outputs", {})
            for output_name, output in outputs.items():
                output.setdefault(
                    "uri",
                    f"azureml://datastores/workspaceblobstore/paths/azureml/{name}/{output_name}/",
                )
            outputs["default"] = {
                "jobOutputType": "uri_folder",
                "mode": "ReadWriteMount",
                "uri": f"azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{name}",
            }
            resource["properties"] = props
            self.jobs[name] = resource
            return 201, {}, resource
        return _error(405, "MethodNotAllowed", req.method)

    # datastores -----------------------------------------------------------------------------

    def _datastore_body(self, name: str) -> dict:
        container = DEFAULT_CONTAINER if name == "workspaceblobstore" else INFERENCE_CONTAINER
        return {
            "id": f"{WS_PATH}/datastores/{name}",
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": ACCOUNT,
                "containerName": container,
                "endpoint": "core.windows.net",
                "protocol": "https",
                "credentials": {"credentialsType": "AccountKey"},
                "isDefault": name == "workspaceblobstore",
                "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity",
                "tags": {},
                "properties": {},
            },
            "systemData": _system_data("2024-01-01T00:00:00.000000+00:00"),
        }

    def _datastore(self, req: Recorded, name: str):
        if name not in ("workspaceblobstore", "inference"):
            return _error(404, "UserError", f"datastore {name} not found")
        return 200, {}, self._datastore_body(name)

    def _datastores(self, req: Recorded):
        if req.query.get("isDefault") == ["true"]:
            return 200, {}, {"value": [self._datastore_body("workspaceblobstore")]}
        return (
            200,
            {},
            {
                "value": [
                    self._datastore_body("workspaceblobstore"),
                    self._datastore_body("inference"),
                ]
            },
        )

    def _list_secrets(self, req: Recorded, name: str):
        return 200, {}, {"secretsType": "AccountKey", "key": ACCOUNT_KEY}

    # schedules ------------------------------------------------------------------------------

    def _schedule(self, req: Recorded, name: str):
        if req.method == "GET":
            if name not in self.schedules:
                return _error(404, "UserError", f"Schedule {name} not found")
            return 200, {}, self.schedules[name]
        if req.method == "PUT":
            body = req.json()
            resource = self._arm_resource(
                "schedules", f"schedules/{name}", name, body, self._tick()
            )
            props = copy.deepcopy(body["properties"])
            props.setdefault("isEnabled", True)
            props["provisioningState"] = "Succeeded"
            # The service stores resolved inputs and targets; echo them as sent.
            resource["properties"] = props
            self.schedules[name] = resource
            return 200, {}, resource
        if req.method == "DELETE":
            self.schedules.pop(name, None)
            return 200, {}, b""
        return _error(405, "MethodNotAllowed", req.method)

    def _schedule_list(self, req: Recorded):
        view = (req.query.get("listViewType") or ["EnabledOnly"])[0]
        items = [
            s
            for s in self.schedules.values()
            if view == "All" or s["properties"]["isEnabled"] == (view == "EnabledOnly")
        ]
        return 200, {}, {"value": items}

    def _schedule_trigger(self, req: Recorded, name: str):
        if name not in self.schedules:
            return _error(404, "UserError", f"Schedule {name} not found")
        return 200, {}, {"submissionId": f"{name}-run-1", "scheduleActionType": "CreateMonitor"}

    # blob storage ---------------------------------------------------------------------------

    def _blob(self, req: Recorded) -> tuple[int, dict, Any]:
        parts = req.path.lstrip("/").split("/", 1)
        container = parts[0]
        blob = parts[1] if len(parts) > 1 else ""
        q = {k: v[0] for k, v in req.query.items()}
        if req.method == "GET" and q.get("comp") == "list":
            return self._blob_list(container, q.get("prefix", ""))
        key = (container, blob)
        if req.method == "PUT" and not q.get("comp"):
            meta = {
                k[len("x-ms-meta-") :]: v
                for k, v in req.headers.items()
                if k.lower().startswith("x-ms-meta-")
            }
            self.blobs[key] = (req.body, meta)
            return 201, self._blob_headers(req.body), b""
        if req.method == "PUT" and q.get("comp") == "metadata":
            if key not in self.blobs:
                return self._blob_missing()
            meta = {
                k[len("x-ms-meta-") :]: v
                for k, v in req.headers.items()
                if k.lower().startswith("x-ms-meta-")
            }
            self.blobs[key] = (self.blobs[key][0], meta)
            return 200, self._blob_headers(self.blobs[key][0]), b""
        if req.method in ("GET", "HEAD"):
            if key not in self.blobs:
                return self._blob_missing(head=req.method == "HEAD")
            content, meta = self.blobs[key]
            headers = self._blob_headers(content)
            headers.update({f"x-ms-meta-{k}": v for k, v in meta.items()})
            headers["x-ms-blob-type"] = "BlockBlob"
            rng = req.headers.get("x-ms-range") or req.headers.get("Range")
            if req.method == "GET" and rng:
                start, _, end = rng.split("=", 1)[1].partition("-")
                lo, hi = int(start), min(int(end) if end else len(content) - 1, len(content) - 1)
                if not content:
                    return 200, {**headers, "Content-Length": "0"}, b""
                part = content[lo : hi + 1]
                headers["Content-Range"] = f"bytes {lo}-{hi}/{len(content)}"
                return 206, headers, part
            return 200, headers, content if req.method == "GET" else b""
        self.unknown.append(req)
        return self._blob_missing()

    def _blob_headers(self, content: bytes) -> dict[str, str]:
        return {
            "ETag": '"0x' + hashlib.md5(content).hexdigest()[:16].upper() + '"',
            "Last-Modified": email.utils.formatdate(usegmt=True),
            "Content-MD5": base64.b64encode(hashlib.md5(content).digest()).decode(),
            "x-ms-request-server-encrypted": "true",
            "x-ms-version": "2025-01-05",
        }

    def _blob_missing(self, head: bool = False) -> tuple[int, dict, Any]:
        body = (
            b""
            if head
            else (
                b'<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code>'
                b"<Message>The specified blob does not exist.</Message></Error>"
            )
        )
        return 404, {"x-ms-error-code": "BlobNotFound", "Content-Type": "application/xml"}, body

    def _blob_list(self, container: str, prefix: str) -> tuple[int, dict, Any]:
        items = []
        for (c, name), (content, meta) in sorted(self.blobs.items()):
            if c != container or not name.startswith(prefix):
                continue
            metadata = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in meta.items())
            items.append(
                f"<Blob><Name>{escape(name)}</Name><Properties>"
                f"<Last-Modified>{email.utils.formatdate(usegmt=True)}</Last-Modified>"
                f"<Etag>0x1</Etag><Content-Length>{len(content)}</Content-Length>"
                f"<Content-Type>application/octet-stream</Content-Type>"
                f"<BlobType>BlockBlob</BlobType></Properties>"
                f"<Metadata>{metadata}</Metadata></Blob>"
            )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="https://{BLOB_HOST}/" '
            f'ContainerName="{container}"><Prefix>{escape(prefix)}</Prefix>'
            f"<Blobs>{''.join(items)}</Blobs><NextMarker /></EnumerationResults>"
        )
        return 200, {"Content-Type": "application/xml"}, xml.encode()


class _FakeNetwork(HTTPAdapter):
    """A requests adapter that answers from the fake instead of opening sockets."""

    def __init__(self, service: FakeAzureML) -> None:
        super().__init__()
        self.service = service

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        rec = Recorded(request.method, request.url, dict(request.headers), body or b"")
        status, headers, content = self.service(rec)
        headers = dict(headers)
        if isinstance(content, (dict, list)):
            content = json.dumps(content).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        content = content or b""
        headers.setdefault("Content-Length", str(len(content)))
        headers.setdefault("x-ms-request-id", f"req-{len(self.service.requests)}")
        raw = HTTPResponse(
            body=io.BytesIO(content),
            headers=headers,
            status=status,
            reason=requests.status_codes._codes.get(status, ("x",))[0].upper(),
            preload_content=False,
            decode_content=False,
        )
        return self.build_response(request, raw)


class FakeCredential:
    """A `TokenCredential` that never talks to Entra ID."""

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken("fake-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None):
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo("fake-token", int(time.time()) + 3600)


def _transport(service: FakeAzureML):
    from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    adapter = _FakeNetwork(service)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=False)


@pytest.fixture
def service() -> FakeAzureML:
    return FakeAzureML()


@pytest.fixture
def storage_transport(service, monkeypatch):
    """Give azure-ai-ml's blob helper a transport (see the module docstring)."""
    import azure.ai.ml._artifacts._blob_storage_helper as blob_helper
    from azure.storage.blob import BlobServiceClient

    transport = _transport(service)

    class _BlobServiceClient(BlobServiceClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("transport", transport)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(blob_helper, "BlobServiceClient", _BlobServiceClient)
    return transport


@pytest.fixture
def ml_client(service):
    from azure.ai.ml import MLClient

    # retry_total=0: the retry policy would otherwise re-send 429/503 with back-off; the
    # adapter's callers own retries (WorkspaceError). Telemetry off: no App Insights exporter.
    return MLClient(
        FakeCredential(),
        SUB,
        RG,
        WS,
        transport=_transport(service),
        retry_total=0,
        enable_telemetry=False,
        show_progress=False,
    )


@pytest.fixture
def workspace(ml_client, storage_transport) -> AzureMLWorkspace:
    return AzureMLWorkspace(
        inference_datastore="inference",
        ml_client=ml_client,
        inference_container=INFERENCE_CONTAINER,
    )


def _csv_opener(content: bytes):
    return lambda: io.BytesIO(content)


# -- data assets ---------------------------------------------------------------------------


def test_blob_uri_points_at_the_inference_datastore(workspace):
    assert workspace.blob_uri(INFERENCE_CONTAINER, "m/2025/batch.csv") == (
        "azureml://datastores/inference/paths/m/2025/batch.csv"
    )
    assert workspace.blob_uri("other-container", "m/batch.csv") is None


def test_create_mltable_version_uploads_the_folder_and_registers_it(workspace, service):
    csv = b"a,b\n1,x\n2,y\n"
    created = workspace.create_mltable_version(
        "m-inference",
        "1",
        MLTable(paths=("./batch.csv",)),
        files={"batch.csv": _csv_opener(csv)},
        tags={"etag": "0x1"},
        description="batch 1",
    )
    assert created.name == "m-inference" and created.version == "1"
    assert created.type == "mltable" and created.tags == {"etag": "0x1"}
    assert (
        created.path.startswith("azureml://")
        and "/datastores/workspaceblobstore/paths/" in created.path
    )
    assert created.created_at is not None

    # What the SDK did: check the version, resolve the default datastore and its secret, upload
    # both files to the workspace blob container, then PUT the data version.
    methods_hosts = [(r.method, urlsplit(r.url).hostname) for r in service.requests]
    assert methods_hosts[0] == ("GET", "management.azure.com")
    assert service.calls("GET", "/datastores/workspaceblobstore")
    assert service.calls("POST", "/datastores/workspaceblobstore/listSecrets")
    uploaded = {
        name: content
        for (container, name), (content, _) in service.blobs.items()
        if container == DEFAULT_CONTAINER
    }
    by_file = {name.rsplit("/", 1)[-1]: content for name, content in uploaded.items()}
    assert by_file["batch.csv"] == csv
    assert MLTable.from_dict(__import__("yaml").safe_load(by_file["MLTable"])) == MLTable(
        paths=("./batch.csv",)
    )
    put = service.calls("PUT", "/data/m-inference/versions/1")
    assert len(put) == 1
    body = put[0].json()["properties"]
    assert body["dataType"] == "mltable"
    assert body["tags"] == {"etag": "0x1"} and body["description"] == "batch 1"
    assert body["dataUri"] == created.path
    assert body["dataUri"].endswith("/m-inference")  # the uploaded folder
    assert "2023-04-01-preview" in put[0].url


def test_create_mltable_version_is_idempotent(workspace, service):
    args = dict(files={"batch.csv": _csv_opener(b"a\n1\n")}, tags={"etag": "0x1"})
    first = workspace.create_mltable_version(
        "m-inference", "1", MLTable(paths=("./batch.csv",)), **args
    )
    n_puts = len(service.calls("PUT", "/data/"))
    again = workspace.create_mltable_version(
        "m-inference", "1", MLTable(paths=("./batch.csv",)), **args
    )
    assert again == first
    assert len(service.calls("PUT", "/data/")) == n_puts  # no second registration


def test_create_mltable_version_returns_the_winner_of_a_race(workspace, service):
    """Another instance registers version 1 between our existence check and our PUT: the
    service answers 409 and we return the version that won."""
    winner = {
        "dataUri": "azureml://datastores/workspaceblobstore/paths/other/m-inference",
        "dataType": "mltable",
        "tags": {"etag": "0x1"},
    }

    def conflict(req: Recorded):
        service.data[("m-inference", "1")] = service._arm_resource(
            "data/versions",
            "data/m-inference/versions/1",
            "1",
            {"properties": winner},
            service._tick(),
        )
        return _error(409, "UserError", "Conflict: asset version already exists")

    service.faults.append(("PUT", r"/data/m-inference/versions/1$", conflict))
    got = workspace.create_mltable_version(
        "m-inference",
        "1",
        MLTable(paths=("./b.csv",)),
        files={"b.csv": _csv_opener(b"a\n1\n")},
        tags={"etag": "0x1"},
    )
    assert got.path == winner["dataUri"]
    assert len(service.calls("GET", "/data/m-inference/versions/1")) == 2


def test_mltable_with_datastore_paths_registers_only_the_mltable_file(workspace, service):
    uri = workspace.blob_uri(INFERENCE_CONTAINER, "m/batch.csv")
    created = workspace.create_mltable_version(
        "m-inference", "2", MLTable(paths=(uri,)), files={}, tags={}
    )
    uploaded = [name for (container, name) in service.blobs if container == DEFAULT_CONTAINER]
    assert [n.rsplit("/", 1)[-1] for n in uploaded] == ["MLTable"]
    body = service.calls("PUT", "/data/m-inference/versions/2")[0].json()["properties"]
    assert body["referencedUris"] == [uri]  # the SDK records what the MLTable points at
    assert created.version == "2"


def test_get_list_latest_data(workspace, service):
    for v in ("1", "2", "10"):
        workspace.create_mltable_version(
            "m-inference",
            v,
            MLTable(paths=("./b.csv",)),
            files={"b.csv": _csv_opener(f"a\n{v}\n".encode())},
            tags={"v": v},
        )
    assert workspace.get_data("m-inference", "2").tags == {"v": "2"}
    assert [d.version for d in workspace.list_data_versions("m-inference")] == ["1", "2", "10"]
    assert workspace.list_data_versions("nothing") == []
    latest = workspace.latest_data("m-inference")
    assert latest is not None and latest.version == "10"
    # latest goes through the container's latestVersion, then the version itself
    assert service.calls("GET", "/data/m-inference?")
    assert workspace.latest_data("nothing") is None
    with pytest.raises(NotFound):
        workspace.get_data("m-inference", "99")


def test_read_table_resolves_relative_and_datastore_paths(workspace, service):
    # One file beside the MLTable, one already in the inference container.
    service.blobs[(INFERENCE_CONTAINER, "m/2025/b2.csv")] = (b"a,b\n3,z\n", {})
    remote = workspace.blob_uri(INFERENCE_CONTAINER, "m/2025/b2.csv")
    asset = workspace.create_mltable_version(
        "m-inference",
        "1",
        MLTable(paths=("./b1.csv", remote)),
        files={"b1.csv": _csv_opener(b"a,b\n1,x\n2,y\n")},
        tags={},
    )
    table = workspace.read_table(asset)
    assert table.column_names == ["a", "b"]
    assert table.column("a").to_pylist() == [1, 2, 3]
    assert workspace.read_table(asset, columns=["b"]).column("b").to_pylist() == ["x", "y", "z"]
    # the download used the inference datastore's own container
    assert service.calls("GET", f"{BLOB_HOST}/{INFERENCE_CONTAINER}/m/2025/b2.csv")


def test_read_table_json_lines(workspace):
    asset = workspace.create_mltable_version(
        "m-inference",
        "1",
        MLTable(paths=("./b.jsonl",), data_format="json_lines"),
        files={"b.jsonl": _csv_opener(b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')},
        tags={},
    )
    assert workspace.read_table(asset).to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_read_table_refuses_what_it_cannot_read(workspace):
    asset = workspace.create_mltable_version(
        "m-inference",
        "1",
        MLTable(paths=("https://elsewhere.blob.core.windows.net/c/b.csv",)),
        files={},
        tags={},
    )
    with pytest.raises(UnreadableData, match="only paths relative"):
        workspace.read_table(asset)
    not_azureml = DataAssetVersion("x", "1", "uri_file", "https://example.com/x.csv")
    with pytest.raises(UnreadableData):
        workspace.read_table(not_azureml)


# -- error mapping -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503, 500])
def test_throttling_and_server_errors_are_retryable(workspace, service, status):
    service.faults.append(
        ("GET", r"/data/m/versions/1$", _error(status, "ServiceUnavailable", "try later"))
    )
    with pytest.raises(WorkspaceError):
        workspace.get_data("m", "1")
    service.faults.append(("GET", r"/schedules/m-monitor$", _error(status, "Busy", "later")))
    with pytest.raises(WorkspaceError):
        workspace.get_monitor("m-monitor")


def test_not_found_maps_to_not_found(workspace):
    with pytest.raises(NotFound):
        workspace.get_data("missing", "1")
    with pytest.raises(NotFound):
        workspace.get_model("missing", "1")
    assert workspace.get_monitor("missing") is None
    with pytest.raises(NotFound):
        workspace.disable_monitor("missing")


def test_connection_errors_are_retryable(service):
    from azure.ai.ml import MLClient
    from azure.core.pipeline.transport import RequestsTransport

    class _Down(HTTPAdapter):
        def send(self, request, **kwargs):
            raise requests.exceptions.ConnectionError("connection refused")

    session = requests.Session()
    session.mount("https://", _Down())
    client = MLClient(
        FakeCredential(),
        SUB,
        RG,
        WS,
        retry_total=0,
        enable_telemetry=False,
        transport=RequestsTransport(session=session, session_owner=False),
    )
    ws = AzureMLWorkspace(inference_datastore="inference", ml_client=client)
    with pytest.raises(WorkspaceError, match="unreachable"):
        ws.get_data("m", "1")


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_client_errors_are_permanent(workspace, service, status):
    service.faults.append(("GET", r"/data/m/versions/1$", _error(status, "UserError", "bad")))
    with pytest.raises(PermanentError, match="refused") as info:
        workspace.get_data("m", "1")
    assert not isinstance(info.value, (WorkspaceError, NotFound))


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_transient(workspace, service, status):
    service.faults.append(("GET", r"/data/m/versions/1$", _error(status, "Busy", "later")))
    with pytest.raises(WorkspaceError):
        workspace.get_data("m", "1")


# -- models --------------------------------------------------------------------------------


def test_register_get_latest_list_models(workspace, service, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.pkl").write_bytes(b"pickle")
    first = workspace.register_model(
        "m",
        tmp_path / "model",
        tags={"stage": "candidate"},
        properties={"auc": "0.9"},
        description="first",
    )
    assert (first.name, first.version) == ("m", "1")
    assert first.tags == {"stage": "candidate"} and first.properties["auc"] == "0.9"
    second = workspace.register_model(
        "m", tmp_path / "model", tags={}, properties={}, description=""
    )
    assert second.version == "2"
    put = service.calls("PUT", "/models/m/versions/1")[0].json()["properties"]
    assert put["modelType"] == "custom_model" and put["description"] == "first"
    assert put["modelUri"].startswith("azureml://") and "/paths/" in put["modelUri"]
    assert any(name.endswith("model.pkl") for (_, name) in service.blobs)

    assert workspace.get_model("m", "1") == first
    latest = workspace.latest_model("m")
    assert latest is not None and latest.version == "2"
    assert [m.version for m in workspace.list_model_versions("m")] == ["1", "2"]
    assert workspace.latest_model("nothing") is None
    assert workspace.list_model_versions("nothing") == []


def _stored_model(service: FakeAzureML, name: str, version: str) -> None:
    service.models[(name, version)] = service._arm_resource(
        "models/versions",
        f"models/{name}/versions/{version}",
        version,
        {"properties": {"modelUri": f"azureml://datastores/workspaceblobstore/paths/{name}"}},
        service._tick(),
    )


def test_list_models_pages_through_the_model_containers(workspace, service):
    assert workspace.list_models() == []
    for name, version in [("zeta", "1"), ("churn", "1"), ("churn", "2"), ("alpha", "3")]:
        _stored_model(service, name, version)
    _stored_model(service, "beta", "1")
    _stored_model(service, "gamma", "1")
    service.page_size = 2
    service.requests.clear()

    assert workspace.list_models() == ["alpha", "beta", "churn", "gamma", "zeta"]
    # The SDK lists the containers (one per name, not the versions) and follows `nextLink`.
    pages = list(service.requests)
    assert [(r.method, r.path) for r in pages] == [("GET", f"{WS_PATH}/models")] * 3
    assert pages[0].query["listViewType"] == ["ActiveOnly"]
    assert {r.query["api-version"][0] for r in pages} == {"2023-08-01-preview"}
    assert "$skip" not in pages[0].query
    assert [r.query["$skip"] for r in pages[1:]] == [["2"], ["4"]]
    assert not service.unknown


@pytest.mark.parametrize("status", [429, 503])
def test_list_models_errors_are_retryable(workspace, service, status):
    service.faults.append(("GET", r"/models$", _error(status, "ServiceUnavailable", "later")))
    with pytest.raises(WorkspaceError):
        workspace.list_models()


# -- monitor schedules ---------------------------------------------------------------------


def _spec(**overrides: Any) -> MonitorSpec:
    base = MonitorSpec(
        name="m-monitor",
        model_name="m",
        model_version="2",
        reference_data=AssetRef("m-training", "1"),
        production_data=AssetRef("m-inference", "7"),
        production_outputs=AssetRef("m-outputs", "7"),
        features=("age", "city"),
        data_drift_thresholds={
            "numerical": {"jensen_shannon_distance": 0.0},
            "categorical": {"pearsons_chi_squared_test": 0.02},
        },
        data_quality_thresholds={"categorical": {"null_value_rate": 0.05}},
        trigger=MonitorTrigger.daily("04:30", "UTC"),
        alert_emails=("ops@example.com",),
        tags={"owner": "team-a"},
    )
    return replace(base, **overrides)


def test_create_or_update_monitor_sends_the_sdk_body(workspace, service):
    spec = _spec()
    stored = workspace.create_or_update_monitor(spec)
    assert stored == spec

    put = service.calls("PUT", "/schedules/m-monitor")
    assert len(put) == 1 and "api-version=2023-06-01-preview" in put[0].url
    body = put[0].json()["properties"]
    definition = body["action"]["monitorDefinition"]
    assert body["action"]["actionType"] == "CreateMonitor"
    assert body["isEnabled"] is True
    assert body["trigger"] == {
        "triggerType": "Recurrence",
        "frequency": "day",
        "interval": 1,
        "schedule": {"hours": [4], "minutes": [30]},
        "timeZone": "UTC",
    }
    assert definition["computeConfiguration"]["runtimeVersion"] == "3.4"
    assert definition["computeConfiguration"]["instanceType"] == "standard_e4s_v3"
    # The SDK resolved the model and the data assets to ARM ids before sending.
    assert definition["monitoringTarget"] == {
        "taskType": "classification",
        "modelId": f"{WS_PATH}/models/m/versions/2",
    }
    signals = definition["signals"]
    assert sorted(signals) == sorted(spec.signal_names())
    drift = signals["m-monitor_data_drift"]
    assert drift["productionData"]["uri"] == f"{WS_PATH}/data/m-inference/versions/7"
    assert drift["referenceData"]["uri"] == f"{WS_PATH}/data/m-training/versions/1"
    # pitfall 1: the 0.0 threshold keeps its metric name
    assert drift["metricThresholds"][0] == {
        "metric": "jensenShannonDistance",
        "threshold": {"value": 0.0},
        "dataType": "Numerical",
    }
    # pitfall 2: categorical-only data quality thresholds survive
    assert signals["m-monitor_data_quality"]["metricThresholds"] == [
        {"metric": "nullValueRate", "threshold": {"value": 0.05}, "dataType": "Categorical"}
    ]
    assert all(s["mode"] == "Enabled" for s in signals.values())
    assert definition["alertNotificationSetting"]["emailNotificationSetting"]["emails"] == [
        "ops@example.com"
    ]
    assert body["tags"]["monitor_autopilot.model"] == "m:2"
    # No request went anywhere but ARM: inputs are referenced, not uploaded.
    assert {urlsplit(r.url).hostname for r in service.requests} == {"management.azure.com"}


def test_get_and_list_monitors_read_back_the_spec(workspace, service):
    spec = _spec()
    workspace.create_or_update_monitor(spec)
    other = _spec(
        name="n-monitor",
        model_name="n",
        production_outputs=None,
        trigger=MonitorTrigger(cron="0 * * * *"),
        enabled=False,
    )
    workspace.create_or_update_monitor(other)
    assert workspace.get_monitor("m-monitor") == spec
    assert workspace.list_monitors() == [spec, other]  # disabled ones included
    assert service.calls("GET", "listViewType=All")


def test_update_enable_disable_trigger_delete(workspace, service):
    spec = _spec()
    workspace.create_or_update_monitor(spec)
    re_aimed = replace(spec, production_data=AssetRef("m-inference", "8"))
    assert workspace.create_or_update_monitor(re_aimed) == re_aimed

    disabled = workspace.disable_monitor("m-monitor")
    assert disabled == replace(re_aimed, enabled=False)
    last_put = service.calls("PUT", "/schedules/m-monitor")[-1].json()["properties"]
    assert last_put["isEnabled"] is False
    # The full definition, model id included, was re-sent (not the GET result: pitfall 6).
    assert last_put["action"]["monitorDefinition"]["monitoringTarget"]["modelId"].endswith(
        "/models/m/versions/2"
    )
    n_puts = len(service.calls("PUT", "/schedules/"))
    assert workspace.disable_monitor("m-monitor").enabled is False
    assert len(service.calls("PUT", "/schedules/")) == n_puts  # already disabled: no write
    assert workspace.enable_monitor("m-monitor") == re_aimed

    assert workspace.trigger_monitor("m-monitor") == "m-monitor-run-1"
    trigger = service.calls("POST", "/schedules/m-monitor/trigger")[0]
    assert "scheduleTime" in trigger.json()

    workspace.delete_monitor("m-monitor")
    assert workspace.get_monitor("m-monitor") is None


def test_sdk_disable_would_drop_the_model_id(workspace, service, ml_client):
    """Why enable/disable rebuild from the spec: the SDK's own begin_disable re-sends the GET
    result, whose monitoring target has lost the model id and whose 0.0 drift threshold has
    lost its metric name again (azure-ai-ml 1.35.2)."""
    workspace.create_or_update_monitor(_spec())
    ml_client.schedules.begin_disable("m-monitor").result()
    puts = service.calls("PUT", "/schedules/m-monitor")
    assert len(puts) == 2
    definition = puts[-1].json()["properties"]["action"]["monitorDefinition"]
    assert definition["monitoringTarget"] == {"taskType": "classification"}
    assert definition["signals"]["m-monitor_data_drift"]["metricThresholds"][0] == {
        "dataType": "Numerical"
    }


def test_schedule_body_equals_the_one_from_the_cli_yaml(workspace, service, ml_client, tmp_path):
    """What `az ml schedule create -f <our yaml>` sends (SDK loader + the same operations) is
    what the adapter sends, once the SDK pitfalls are worked around on the loaded entity."""
    from azure.ai.ml.entities._load_functions import load_schedule

    from core.adapters.azureml.schedule import apply_sdk_workarounds
    from core.adapters.local.schedule_yaml import monitor_spec_to_yaml

    spec = _spec()
    workspace.create_or_update_monitor(spec)
    ours = service.calls("PUT", "/schedules/m-monitor")[-1].json()

    path = tmp_path / "monitor.yaml"
    path.write_text(monitor_spec_to_yaml(spec))
    loaded = apply_sdk_workarounds(load_schedule(path))
    loaded._is_enabled = True  # `is_enabled` is dump-only for the loader; the CLI sends none
    ml_client.schedules.begin_create_or_update(loaded).result()
    theirs = service.calls("PUT", "/schedules/m-monitor")[-1].json()
    assert theirs == ours


def test_built_schedule_is_what_gets_sent(workspace, service):
    """`build_monitor_schedule` is the whole story: its REST body, after the SDK's ARM-id
    resolution, is the PUT body."""
    spec = _spec(production_outputs=None, features=None)
    workspace.create_or_update_monitor(spec)
    sent = service.calls("PUT", "/schedules/m-monitor")[-1].json()
    rest = build_monitor_schedule(spec)._to_rest_object().as_dict()
    sent_s = json.dumps(sent, sort_keys=True)
    rest_s = json.dumps(rest, sort_keys=True)
    rest_s = re.sub(
        r'"azureml:(m|m-training|m-inference):(\d+)"',
        lambda m: (
            '"'
            + WS_PATH
            + ("/models/" if m.group(1) == "m" else "/data/")
            + f'{m.group(1)}/versions/{m.group(2)}"'
        ),
        rest_s,
    )
    assert json.loads(sent_s) == json.loads(rest_s)
    features = sent["properties"]["action"]["monitorDefinition"]["signals"]["m-monitor_data_drift"][
        "features"
    ]
    assert features == {"filterType": "AllFeatures"}


# -- retraining jobs -----------------------------------------------------------------------

RETRAIN_INPUTS = {
    "training_data": "azureml:churn-training:3",
    "inference_data": "azureml:churn-inference:7",
}


@pytest.fixture
def outside_git(tmp_path, monkeypatch):
    """The SDK adds the current directory's git branch and commit to a job's properties, and
    names the experiment after it when none is given: run the job tests outside the repo."""
    monkeypatch.chdir(tmp_path)


def _data_id(name: str, version: str) -> str:
    return f"{WS_PATH}/data/{name}/versions/{version}"


def test_submit_retraining_command_job(workspace, service, outside_git):
    name = workspace.submit_job(
        str(FIXTURES / "retrain_command_job.yml"),
        inputs=RETRAIN_INPUTS,
        tags={"autopilot.model": "churn:4", "autopilot.reason": "drift"},
        experiment_name="churn-retraining",
        display_name="retrain churn after drift",
    )

    # One request: the PUT of the job under the name the SDK generated. The environment,
    # compute and data assets are referenced by id, not looked up; nothing is uploaded.
    assert [(r.method, r.path) for r in service.requests] == [("PUT", f"{WS_PATH}/jobs/{name}")]
    put = service.requests[0]
    assert put.query["api-version"] == ["2025-01-01-preview"]
    body = put.json()["properties"]
    assert body["jobType"] == "Command"
    assert body["inputs"] == {
        "training_data": {"jobInputType": "mltable", "uri": _data_id("churn-training", "3")},
        "inference_data": {"jobInputType": "mltable", "uri": _data_id("churn-inference", "7")},
    }
    # our tags are added to the definition's
    assert body["tags"] == {
        "team": "churn",
        "autopilot.model": "churn:4",
        "autopilot.reason": "drift",
    }
    assert body["experimentName"] == "churn-retraining"
    assert body["displayName"] == "retrain churn after drift"
    assert body["command"] == (
        "python train.py --training_data ${{inputs.training_data}} "
        "--inference_data ${{inputs.inference_data}}"
    )
    assert body["environmentId"] == "azureml:AzureML-sklearn-1.5@latest"
    assert body["computeId"] == f"{WS_PATH}/computes/cpu-cluster"
    assert body["outputs"] == {"model": {"jobOutputType": "mlflow_model"}}
    assert body["properties"] == {}  # no git properties outside a repository

    status = workspace.get_job(name)
    assert status == JobStatus(
        name=name,
        status="NotStarted",
        tags=body["tags"],
        properties={},
        outputs={
            "model": f"azureml://datastores/workspaceblobstore/paths/azureml/{name}/model/",
            "default": f"azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{name}",
        },
    )
    get = service.requests[-1]
    assert (get.method, get.path) == ("GET", f"{WS_PATH}/jobs/{name}")

    service.jobs[name]["properties"]["status"] = "Completed"
    service.jobs[name]["properties"]["properties"] = {"azureml.runsource": "azureml.scriptrun"}
    done = workspace.get_job(name)
    assert done.status == "Completed"
    assert done.properties == {"azureml.runsource": "azureml.scriptrun"}


def test_submit_keeps_declared_input_types_and_names_each_run(
    workspace, service, outside_git, tmp_path
):
    import yaml

    definition = yaml.safe_load((FIXTURES / "retrain_command_job.yml").read_text())
    definition["name"] = "fixed-name"  # a template's name must not make runs collide
    definition["inputs"]["inference_data"] = {
        "type": "uri_folder",
        "mode": "ro_mount",
        "path": "azureml:churn-inference-raw:1",
    }
    path = tmp_path / "job.yml"
    path.write_text(yaml.safe_dump(definition))

    names = [
        workspace.submit_job(
            str(path),
            inputs={**RETRAIN_INPUTS, "inference_data": "azureml:churn-inference-raw:7"},
            tags={},
            experiment_name="churn-retraining",
        )
        for _ in range(2)
    ]
    assert len(set(names)) == 2 and "fixed-name" not in names
    body = service.calls("PUT", f"/jobs/{names[0]}")[0].json()["properties"]
    assert body["inputs"]["inference_data"] == {
        "jobInputType": "uri_folder",
        "mode": "ReadOnlyMount",
        "uri": _data_id("churn-inference-raw", "7"),
    }
    assert body["inputs"]["training_data"]["jobInputType"] == "mltable"
    assert body["tags"] == {"team": "churn"}
    assert body["displayName"] == names[0]  # no display name given: the SDK uses the name


def test_submit_refuses_inputs_the_definition_does_not_declare(workspace, service):
    with pytest.raises(ValueError, match="declares no input 'training'"):
        workspace.submit_job(
            str(FIXTURES / "retrain_command_job.yml"),
            inputs={"training": "azureml:churn-training:3"},
            tags={},
            experiment_name="churn-retraining",
        )
    assert service.requests == []


def test_sdk_command_ignores_inputs_set_after_loading(ml_client, service, outside_git):
    """Why inputs are set on the YAML (`params_override`, the CLI's `--set`): `load_job` gives
    a `Command` node, and an input assigned to it afterwards is not what gets submitted
    (azure-ai-ml 1.35.2: the node submits the inputs it was built with)."""
    from azure.ai.ml import Input, load_job

    job = load_job(FIXTURES / "retrain_command_job.yml")
    job.inputs.training_data = Input(type="mltable", path="azureml:churn-training:3")
    created = ml_client.jobs.create_or_update(job)
    body = service.calls("PUT", f"/jobs/{created.name}")[0].json()["properties"]
    assert body["inputs"]["training_data"]["uri"] == _data_id("churn-training", "1")


class JwtCredential(FakeCredential):
    """Tokens shaped like Entra ID's: the SDK decodes the token it sends with a pipeline job
    (`x-azureml-token`) to check its audience, and reads the tenant from it."""

    def get_token(self, *scopes: str, **kwargs: Any):
        import jwt
        from azure.core.credentials import AccessToken

        expires = int(time.time()) + 3600
        claims = {"aud": scopes[0].removesuffix("/.default"), "tid": "tenant-1", "exp": expires}
        return AccessToken(jwt.encode(claims, "k" * 32, algorithm="HS256"), expires)


def test_submit_retraining_pipeline_job(service, storage_transport, outside_git):
    from azure.ai.ml import MLClient

    client = MLClient(
        JwtCredential(),
        SUB,
        RG,
        WS,
        transport=_transport(service),
        retry_total=0,
        enable_telemetry=False,
        show_progress=False,
    )
    workspace = AzureMLWorkspace(inference_datastore="inference", ml_client=client)
    name = workspace.submit_job(
        str(FIXTURES / "retrain_pipeline_job.yml"),
        inputs=RETRAIN_INPUTS,
        tags={"autopilot.model": "churn:4"},
        experiment_name="churn-retraining",
    )
    # The inline step is registered as an anonymous component, then the pipeline job is PUT
    # (with the caller's Azure ML token, which pipeline jobs need).
    component = service.calls("PUT", "/components/azureml_anonymous/versions/")
    assert len(component) == 1
    put = service.calls("PUT", f"/jobs/{name}")
    assert len(put) == 1 and put[0].query["api-version"] == ["2024-01-01-preview"]
    assert put[0].headers["x-azureml-token"].count(".") == 2
    body = put[0].json()["properties"]
    assert body["jobType"] == "Pipeline"
    assert body["inputs"] == {
        "training_data": {"jobInputType": "mltable", "uri": _data_id("churn-training", "3")},
        "inference_data": {"jobInputType": "mltable", "uri": _data_id("churn-inference", "7")},
    }
    assert body["tags"] == {"autopilot.model": "churn:4"}
    assert body["experimentName"] == "churn-retraining"
    assert body["jobs"]["train"]["componentId"] == component[0].path
    assert not service.unknown

    status = workspace.get_job(name)
    assert status.status == "NotStarted" and status.tags == {"autopilot.model": "churn:4"}
    assert (status.outputs["model"] or "").endswith(f"/azureml/{name}/model/")


def test_job_status_errors(workspace, service):
    with pytest.raises(NotFound):
        workspace.get_job("no-such-job")
    service.faults.append(("GET", r"/jobs/busy-job$", _error(503, "ServiceUnavailable", "later")))
    with pytest.raises(WorkspaceError):
        workspace.get_job("busy-job")


def test_submit_errors_are_mapped(workspace, service, outside_git):
    service.faults.append(("PUT", r"/jobs/", _error(503, "ServiceUnavailable", "later")))
    with pytest.raises(WorkspaceError):
        workspace.submit_job(
            str(FIXTURES / "retrain_command_job.yml"),
            inputs=RETRAIN_INPUTS,
            tags={},
            experiment_name="churn-retraining",
        )
    service.faults.append(("PUT", r"/jobs/", _error(400, "UserError", "bad compute")))
    with pytest.raises(PermanentError) as info:
        workspace.submit_job(
            str(FIXTURES / "retrain_command_job.yml"),
            inputs=RETRAIN_INPUTS,
            tags={},
            experiment_name="churn-retraining",
        )
    assert not isinstance(info.value, (WorkspaceError, NotFound))


# -- ingestion against the SDK's operations ----------------------------------------------------


def test_ingesting_files_lists_no_data_versions_and_keeps_them_contiguous(workspace, service):
    """Per-file cost on Azure must not grow with versions: the version comes from the ledger's
    counter (seeded once from the `latest` label), never from `data.list`."""

    from core.domain.ingestion import BlobRef
    from core.services.ingest import IngestConfig, IngestService
    from core.services.reference import ReferenceData
    from tests.fakes import FakeBlobStore, FakeLedger, FakeWorkspace

    blobs, ledger = FakeBlobStore(), FakeLedger()
    ingest = IngestService(
        IngestConfig(inference_container=INFERENCE_CONTAINER, quarantine_container="q",
                     max_file_bytes=1 << 30, lease_seconds=60,
                     inference_asset=lambda m: f"{m}-inference"),
        workspace, blobs, ledger,
        ReferenceData(workspace, FakeWorkspace(), lambda m: f"{m}-training"),
    )
    for n in range(6):
        blobs.upload(INFERENCE_CONTAINER, f"m/batch-{n}.csv", b"a,b\n1,x\n2,y\n")
        outcome = ingest.ingest(BlobRef(INFERENCE_CONTAINER, f"m/batch-{n}.csv"))
        assert outcome.kind == "registered", outcome.message
    assert sorted(int(v) for (name, v) in service.data if name == "m-inference") == \
        [1, 2, 3, 4, 5, 6]
    paths = [(r.method, urlsplit(r.url).path.split("/workspaces/ws-test")[1])
             for r in service.requests if "/data/" in r.url]
    assert not [p for p in paths if p[1].endswith("/versions")]  # no data.list, ever
    # The counter is seeded once from the `latest` label (GET of the asset container)...
    assert paths.count(("GET", "/data/m-inference")) == 1
    # ...and each file then costs the same: the reference's latest, a version check, the PUT.
    for n in range(2, 7):
        assert paths.count(("PUT", f"/data/m-inference/versions/{n}")) == 1
    assert paths.count(("GET", "/data/m-training")) == 6
    assert len(paths) == 1 + 6 * 3


# ------------------------------------------------------------------ models users register


def test_register_an_mlflow_model_from_a_job_output(workspace, service):
    """The retrainer registers a challenger straight from its job's output, in the champion's
    type (an MLflow champion gives an mlflow_model): nothing is uploaded."""
    output = "azureml://jobs/job-fox-1/outputs/model"
    version = workspace.register_model("churn", output, tags={"autopilot.request_id": "r1"},
                                       model_type="mlflow_model")

    assert version.type == "mlflow_model" and version.version == "1"
    [put] = service.calls("PUT", "/models/churn/versions/1")
    body = put.json()["properties"]
    assert body["modelType"] == "mlflow_model" and body["modelUri"] == output
    assert not any(r.method == "PUT" and BLOB_HOST in r.url for r in service.requests)
    with pytest.raises(ValueError, match="custom_model or mlflow_model"):
        workspace.register_model("churn", output, model_type="triton")


def test_download_model_fetches_the_version_files(workspace, service, tmp_path):
    """What describing a model on Azure needs: its files, through the SDK's models.download."""
    folder = tmp_path / "mlflow-model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "model.pkl").write_bytes(b"pickle bytes")
    model = workspace.register_model("churn", folder, model_type="mlflow_model")

    found = workspace.download_model(model, tmp_path / "download")

    assert sorted(p.name for p in found.iterdir()) == ["MLmodel", "model.pkl"]
    assert (found / "model.pkl").read_bytes() == b"pickle bytes"
    with pytest.raises(NotFound):
        workspace.download_model(replace(model, version="9"), tmp_path / "none")


def test_register_an_mltable_folder_from_a_job_output(workspace, service):
    output = "azureml://jobs/job-fox-1/outputs/training_data"
    asset = workspace.register_mltable_folder("churn-training", "4", output,
                                              tags={"autopilot.request_id": "r1"})
    assert asset.asset_id == "azureml:churn-training:4" and asset.type == "mltable"
    body = service.calls("PUT", "/data/churn-training/versions/4")[0].json()["properties"]
    assert body["dataType"] == "mltable" and body["dataUri"] == output
    again = workspace.register_mltable_folder("churn-training", "4", output, tags={})
    assert again.version == "4" and len(service.calls("PUT", "/data/churn-training/")) == 1


def test_submit_types_the_champion_input_and_sets_literal_inputs(
    workspace, service, outside_git, tmp_path
):
    """The retrainer's submission: the champion typed as registered (mlflow_model), and the
    model's description as literal inputs the definition declares (undeclared ones left out)."""
    import yaml

    definition = yaml.safe_load((FIXTURES / "retrain_command_job.yml").read_text())
    definition["inputs"]["champion_model"] = {"type": "custom_model",
                                              "path": "azureml:churn:1"}
    definition["inputs"]["target"] = "auto"
    definition["command"] += " --champion ${{inputs.champion_model}} --target ${{inputs.target}}"
    path = tmp_path / "job.yml"
    path.write_text(yaml.safe_dump(definition))

    name = workspace.submit_job(
        str(path), inputs={**RETRAIN_INPUTS, "champion_model": "azureml:churn:4"},
        input_types={"champion_model": "mlflow_model"},
        literal_inputs={"target": "churned", "features": "age,plan"},
        tags={}, experiment_name="churn-retraining")

    body = service.calls("PUT", f"/jobs/{name}")[0].json()["properties"]
    assert body["inputs"]["champion_model"] == {
        "jobInputType": "mlflow_model", "uri": f"{WS_PATH}/models/churn/versions/4"}
    assert body["inputs"]["target"] == {"jobInputType": "literal", "value": "churned"}
    assert "features" not in body["inputs"]


def test_the_model_performance_signal_through_the_sdks_operations(workspace, service):
    """Azure's model performance signal (preview) on a labelled version, sent by the SDK's own
    schedule operations: the labelled version resolved to its ARM id on both sides, the column
    roles, our thresholds (not the SDK's fixed Accuracy 0.9), and read back equal through the
    schedule's tags."""
    spec = _spec(performance_data=AssetRef("m-labelled", "3"),
                 performance_thresholds={"accuracy": 0.95, "recall": 0.0},
                 prediction_column="predicted_y", target_column="y")
    assert workspace.create_or_update_monitor(spec) == spec
    body = service.calls("PUT", "/schedules/m-monitor")[-1].json()["properties"]
    signal = body["action"]["monitorDefinition"]["signals"]["m-monitor_model_performance"]
    labelled = f"{WS_PATH}/data/m-labelled/versions/3"
    assert signal["signalType"] == "ModelPerformance" and signal["mode"] == "Enabled"
    [production] = signal["productionData"]
    assert (production["uri"], production["dataContext"], production["columns"]) == (
        labelled, "model_outputs", {"prediction": "predicted_y", "correlation_id": "correlationid"})
    assert (signal["referenceData"]["uri"], signal["referenceData"]["dataContext"],
            signal["referenceData"]["columns"]) == (
        labelled, "ground_truth", {"actual": "y", "correlation_id": "correlationid"})
    assert signal["metricThreshold"] == {"metric": "Accuracy", "modelType": "Classification",
                                         "threshold": {"value": 0.95}}
    assert json.loads(signal["properties"]["azureml.modelmonitor.model_performance_thresholds"]
                      ) == [
        {"modelType": "classification", "metric": "Accuracy", "threshold": {"value": 0.95}},
        {"modelType": "classification", "metric": "Recall", "threshold": {"value": 0.0}}]
    assert body["tags"]["monitor_autopilot.labelled_data"] == "m-labelled:3"
    assert workspace.get_monitor("m-monitor") == spec
