"""Settings, read once from the environment (local.settings.json `Values` locally, app
settings on Azure). A missing or malformed setting fails at start with its name."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal, cast

Backend = Literal["local", "azureml"]


class SettingsError(ValueError):
    """A setting is missing or malformed. The message names the setting."""


# ------------------------------------------------------------------ storage connections

# The connections the app uses, by the names the Functions host knows them: the host's own
# storage (also our tables, queues and artifacts) and the blob trigger's (inference files).
CONNECTIONS = ("AzureWebJobsStorage", "INFERENCE_STORAGE")
STORAGE_SERVICES = ("blob", "queue", "table")
# What each connection must reach: ours and the host's needs (the blob trigger keeps its
# poison queue on its connection's account).
CONNECTION_SERVICES: dict[str, tuple[str, ...]] = {
    "AzureWebJobsStorage": ("blob", "queue", "table"),
    "INFERENCE_STORAGE": ("blob", "queue"),
}
# The identity form's parts (`NAME__<part>`), as the Functions host reads them.
IDENTITY_PARTS = ("accountName", "blobServiceUri", "queueServiceUri", "tableServiceUri",
                  "serviceUri", "credential", "clientId")
# Serverless Spark runtimes the pinned azure-ai-ml accepts for a monitor
# (azure/ai/ml/entities/_monitoring/compute.py _SUPPORTED_RUNTIME_VERSIONS; kept equal by
# tests/unit/test_settings.py).
SPARK_RUNTIMES = ("3.4", "3.5")

_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_CLIENT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                        r"[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class StorageConnection:
    """One storage connection, in one of the two forms the Functions host reads for `NAME`:
    a connection string in `NAME`, or an identity: `NAME__accountName` or
    `NAME__<service>ServiceUri`, with `NAME__credential=managedidentity` and `NAME__clientId`
    for a user-assigned identity (no `__credential`: the host's default identity, i.e.
    DefaultAzureCredential)."""

    name: str
    connection_string: str | None = field(default=None, repr=False)  # may hold a key
    blob_uri: str | None = None
    queue_uri: str | None = None
    table_uri: str | None = None
    credential: Literal["managedidentity"] | None = None
    client_id: str | None = None

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None

    def service_uri(self, service: str) -> str:
        uri = {"blob": self.blob_uri, "queue": self.queue_uri, "table": self.table_uri}[service]
        if uri is None:
            raise SettingsError(
                f"connection {self.name} has no {service} endpoint: set "
                f"{self.name}__{service}ServiceUri or {self.name}__accountName"
            )
        return uri

    @property
    def account(self) -> str | None:
        """The account name, as far as the settings tell it (never a key)."""
        if self.connection_string is not None:
            parts = _connection_string_parts(self.connection_string)
            if parts.get("usedevelopmentstorage", "").lower() == "true":
                return "devstoreaccount1"
            return parts.get("accountname")
        uri = self.blob_uri or self.queue_uri or self.table_uri or ""
        host = re.sub(r"^https?://", "", uri).split("/")[0]
        if re.match(r"^[\d.]+(:\d+)?$|^localhost(:\d+)?$", host):  # emulator: /<account> path
            path = re.sub(r"^https?://[^/]+/?", "", uri).split("/")[0]
            return path or None
        return host.split(".")[0] or None

    @property
    def identity(self) -> str:
        """Who the connection signs in as, for messages (no secrets)."""
        if self.connection_string is not None:
            return "the connection string's key or SAS"
        if self.credential == "managedidentity":
            return (f"user-assigned managed identity {self.client_id}" if self.client_id
                    else "the system-assigned managed identity")
        return "DefaultAzureCredential (managed identity on Azure, your sign-in locally)"

    def describe(self) -> dict:
        """For operators: the form, account, endpoints and identity, never a key."""
        if self.connection_string is not None:
            return {"form": "connection string", "account": self.account}
        return {
            "form": "identity",
            "account": self.account,
            "endpoints": {s: u for s, u in (("blob", self.blob_uri), ("queue", self.queue_uri),
                                            ("table", self.table_uri)) if u},
            "credential": self.credential or "default",
            "client_id": self.client_id,
        }


def _connection_string_parts(value: str) -> dict[str, str]:
    parts = {}
    for item in value.split(";"):
        key, sep, val = item.partition("=")
        if sep:
            parts[key.strip().lower()] = val.strip()
    return parts


def parse_connection(env: Mapping[str, str], name: str,
                     default: StorageConnection | None = None) -> StorageConnection:
    """Read connection `name` from the settings the way the Functions host does. Every error
    names the setting and the missing or conflicting part."""
    def value(key: str) -> str | None:
        raw = env.get(key)
        return raw.strip() if raw is not None and raw.strip() else None

    prefix = f"{name}__"
    parts = {key[len(prefix):]: value(key) for key in env
             if key.startswith(prefix) and value(key) is not None}
    unknown = sorted(set(parts) - set(IDENTITY_PARTS))
    if unknown:
        raise SettingsError(
            f"setting {prefix}{unknown[0]} is not part of an identity-based connection this "
            f"app supports (use {', '.join(prefix + p for p in IDENTITY_PARTS)})"
        )
    connection_string = value(name)
    if connection_string is not None:
        if parts:
            raise SettingsError(
                f"connection {name} is configured both ways: a connection string in {name} "
                f"and {', '.join(prefix + p for p in sorted(parts))}; keep one form"
            )
        return StorageConnection(name, connection_string=connection_string)
    if not parts:
        if default is not None:
            return default
        raise SettingsError(
            f"setting {name} is required but not set: a connection string in {name}, or an "
            f"identity-based connection ({prefix}accountName or {prefix}blobServiceUri/"
            f"__queueServiceUri/__tableServiceUri, with {prefix}credential=managedidentity and "
            f"{prefix}clientId for a user-assigned identity)"
        )

    credential = parts.get("credential")
    if credential is not None and credential.lower() != "managedidentity":
        raise SettingsError(
            f"setting {prefix}credential must be managedidentity (or unset for the default "
            f"identity), got {credential!r}"
        )
    client_id = parts.get("clientId")
    if client_id is not None and credential is None:
        raise SettingsError(
            f"setting {prefix}credential=managedidentity is missing: {prefix}clientId names a "
            f"user-assigned identity only together with it"
        )
    if client_id is not None and not _CLIENT_ID.match(client_id):
        raise SettingsError(
            f"setting {prefix}clientId must be the identity's client id (a GUID), got "
            f"{client_id!r}"
        )

    account = parts.get("accountName")
    uris = {s: parts.get(f"{s}ServiceUri") for s in STORAGE_SERVICES}
    if parts.get("serviceUri"):
        # The host's blob-only form (blob bindings); a connection used for queues or tables
        # too needs the per-service URIs.
        if uris["blob"] and uris["blob"] != parts["serviceUri"]:
            raise SettingsError(f"settings {prefix}serviceUri and {prefix}blobServiceUri differ; "
                                "keep one")
        uris["blob"] = parts["serviceUri"]
    given = [s for s, u in uris.items() if u]
    if account is not None:
        if given:
            raise SettingsError(
                f"connection {name} is configured both ways: {prefix}accountName and "
                f"{', '.join(f'{prefix}{s}ServiceUri' for s in given)}; keep one"
            )
        if not _ACCOUNT.match(account):
            raise SettingsError(
                f"setting {prefix}accountName must be a storage account name (3-24 lowercase "
                f"letters and digits), got {account!r}"
            )
        if name != "AzureWebJobsStorage":
            # azurefunctions-extensions-bindings-blob (the SDK-type blob binding) derives a URI
            # from __accountName only for AzureWebJobsStorage.
            raise SettingsError(
                f"setting {prefix}accountName is read by the Functions host for "
                f"AzureWebJobsStorage only; for {name} set {prefix}blobServiceUri and "
                f"{prefix}queueServiceUri instead"
            )
        uris = {s: f"https://{account}.{s}.core.windows.net" for s in STORAGE_SERVICES}
    if not any(uris.values()):
        raise SettingsError(
            f"connection {name} names no account: set {prefix}accountName or "
            f"{prefix}blobServiceUri (with __queueServiceUri/__tableServiceUri as needed)"
        )
    for service, uri in uris.items():
        if uri is not None and not re.match(r"^https?://[^/\s]+", uri):
            raise SettingsError(
                f"setting {prefix}{service}ServiceUri must be an https:// endpoint, got {uri!r}"
            )
    missing = [s for s in CONNECTION_SERVICES.get(name, ("blob",)) if not uris[s]]
    if missing:
        raise SettingsError(
            f"setting {prefix}{missing[0]}ServiceUri is missing: connection {name} is used for "
            f"{', '.join(CONNECTION_SERVICES.get(name, ('blob',)))} storage"
        )
    return StorageConnection(
        name, blob_uri=_strip(uris["blob"]), queue_uri=_strip(uris["queue"]),
        table_uri=_strip(uris["table"]),
        credential="managedidentity" if credential is not None else None, client_id=client_id,
    )


def _strip(uri: str | None) -> str | None:
    return uri.rstrip("/") if uri else None


_NAME_TEMPLATE = re.compile(r"^[A-Za-z0-9_.{}-]*\{model\}[A-Za-z0-9_.{}-]*$")
_CONTAINER = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
# A storage queue name with room for the "-poison" suffix the host appends.
_QUEUE = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,54}[a-z0-9]$")


@dataclass(frozen=True)
class Settings:
    # Storage
    storage_connection: StorageConnection  # AzureWebJobsStorage: tables, queues, artifacts
    inference_storage_setting: str  # name of the connection the blob trigger reads files with
    inference_connection: StorageConnection  # that connection: inference files, quarantine
    # The user-assigned identity DefaultAzureCredential signs in as (Azure ML): AZURE_CLIENT_ID,
    # else AzureWebJobsStorage's __clientId; None: the system-assigned or developer identity.
    azure_client_id: str | None
    inference_container: str
    quarantine_container: str
    artifacts_container: str
    table_prefix: str
    # Workspace
    backend: Backend
    local_workspace_dir: str
    subscription_id: str | None
    resource_group: str | None
    workspace_name: str | None
    inference_datastore: str
    # Ingestion
    inference_asset_template: str
    outputs_asset_template: str
    reference_asset_template: str
    max_file_bytes: int
    label_columns: tuple[str, ...]  # reference columns inference files may leave out
    ingest_lease_seconds: int
    # Ground truth joined to collected inputs (core/services/ground_truth.py)
    ground_truth_join: bool  # keep collected rows for labels that arrive later
    correlation_column: str  # the id column joining inputs, outputs and ground truth
    labelled_asset_template: str
    ground_truth_wait_days: float  # a label waits this long for its input, then is dropped
    performance_thresholds: dict[str, float]  # PERFORMANCE_THRESHOLDS, parsed
    # Early drift check
    early_drift_check: bool
    early_drift_row_limit: int
    early_drift_memory_mb: int  # the early check's memory; above it drift uses a sample
    # Drift thresholds of the early check and local monitor runs (core/drift/policy.py)
    drift_threshold_policy: str  # azure | calibrated | fixed
    drift_threshold_k: float  # calibrated: thresholds at the tail norm.sf(k)
    drift_false_alarm_rate: float | None  # calibrated: k per model from this rate, when set
    drift_threshold_quantile: float | None  # calibrated: this quantile instead, when set
    drift_thresholds: dict[str, dict[str, dict[str, float]]]  # DRIFT_THRESHOLDS, parsed
    expected_batch_rows: int  # 0: the median of recent batches, 1000 before any
    # Monitors (defaults that model tags override; see core/monitors.py)
    monitor_name_template: str
    watch_all_models: bool
    monitor_ml_task: str
    monitor_schedule: str  # daily "HH:MM" or a 5-field cron expression
    monitor_time_zone: str
    monitor_lookback: str
    monitor_alert_emails: tuple[str, ...]
    monitor_instance_type: str
    monitor_runtime_version: str
    event_sink: str  # local backend: "inprocess", "none", or the base URL of a `func start`
    # Retraining
    retrain_cooldown_hours: float
    retrain_breaches_in_a_row: int
    retrain_min_improvement: float
    retrain_primary_metric: str | None
    retrain_on_early_drift: bool
    retrain_lease_seconds: int
    retrain_job_file: str  # the retraining job YAML, both backends (relative: to the app root)
    retrain_experiment: str
    retrain_queue: str  # the queue trigger's queue (binding %RETRAIN_QUEUE%); poison: +"-poison"
    # Telemetry (Application Insights through OpenTelemetry; nothing without a connection string)
    telemetry: TelemetrySettings = field(default_factory=lambda: TelemetrySettings())
    # The autopilot's own events (an Event Grid topic; the log without an endpoint)
    events: EventsSettings = field(default_factory=lambda: EventsSettings())

    def inference_asset(self, model: str) -> str:
        return self.inference_asset_template.format(model=model)

    def outputs_asset(self, model: str) -> str:
        return self.outputs_asset_template.format(model=model)

    def reference_asset(self, model: str) -> str:
        return self.reference_asset_template.format(model=model)

    def labelled_asset(self, model: str) -> str:
        return self.labelled_asset_template.format(model=model)

    def describe(self) -> dict:
        """Settings safe to show an operator: connections as their form, account and identity,
        never a key or a connection string."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            described = getattr(value, "describe", None)
            out[f.name] = described() if callable(described) else value
        return out


@dataclass(frozen=True)
class TelemetrySettings:
    """APPLICATIONINSIGHTS_CONNECTION_STRING (the same one the Functions host reads) turns the
    app's own telemetry on; APPLICATIONINSIGHTS_AUTHENTICATION_STRING `Authorization=AAD` (as the
    host reads it) makes it sign in with the app's identity, since Application Insights has
    local auth off in the templates. PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true means the
    Python worker configured the distro itself: the app then uses the worker's providers."""

    connection_string: str | None = field(default=None, repr=False)
    entra_id: bool = False
    worker_configured: bool = False

    @property
    def enabled(self) -> bool:
        return self.connection_string is not None

    @property
    def ingestion_endpoint(self) -> str | None:
        if self.connection_string is None:
            return None
        parts = _connection_string_parts(self.connection_string)
        return parts.get("ingestionendpoint", "https://dc.services.visualstudio.com")

    def describe(self) -> dict:
        return {"enabled": self.enabled, "ingestion_endpoint": self.ingestion_endpoint,
                "authentication": "Entra ID" if self.entra_id else
                ("instrumentation key" if self.enabled else None),
                "worker_configured": self.worker_configured}


@dataclass(frozen=True)
class EventsSettings:
    """AUTOPILOT_EVENTS_ENDPOINT: the Event Grid topic the autopilot publishes its CloudEvents
    to, signing in with the app's identity, or with AUTOPILOT_EVENTS_KEY (an access key) when
    set. Unset: the events are written to the log."""

    endpoint: str | None = None
    key: str | None = field(default=None, repr=False)

    def describe(self) -> dict:
        return {"endpoint": self.endpoint,
                "authentication": None if self.endpoint is None else
                ("access key" if self.key else "Entra ID")}


_GUID = _CLIENT_ID


def _telemetry_settings(env: Mapping[str, str]) -> tuple[TelemetrySettings, str | None]:
    """The telemetry settings and the client id the authentication string names, if any."""
    connection = (env.get("APPLICATIONINSIGHTS_CONNECTION_STRING") or "").strip() or None
    if connection is not None:
        parts = _connection_string_parts(connection)
        key = parts.get("instrumentationkey", "")
        if not _GUID.match(key):
            raise SettingsError(
                "setting APPLICATIONINSIGHTS_CONNECTION_STRING must be an Application Insights "
                "connection string with an InstrumentationKey (a GUID); copy it from the "
                "resource's Overview page")
        endpoint = parts.get("ingestionendpoint")
        if endpoint is not None and not re.match(r"^https?://[^/\s]+", endpoint):
            raise SettingsError(
                f"setting APPLICATIONINSIGHTS_CONNECTION_STRING: IngestionEndpoint must be an "
                f"https:// URL, got {endpoint!r}")
    auth = (env.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING") or "").strip()
    entra, client_id = False, None
    if auth:
        parts = _connection_string_parts(auth)
        if parts.get("authorization", "").upper() != "AAD" or \
                set(parts) - {"authorization", "clientid"}:
            raise SettingsError(
                "setting APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be "
                "'Authorization=AAD' or 'ClientId=<identity client id>;Authorization=AAD', "
                f"got {auth!r}")
        client_id = parts.get("clientid")
        if client_id is not None and not _GUID.match(client_id):
            raise SettingsError(
                "setting APPLICATIONINSIGHTS_AUTHENTICATION_STRING: ClientId must be the "
                f"identity's client id (a GUID), got {client_id!r}")
        entra = True
    worker = _bool(env, "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", False)
    return TelemetrySettings(connection, entra, worker), client_id


def _events_settings(env: Mapping[str, str]) -> EventsSettings:
    endpoint = (env.get("AUTOPILOT_EVENTS_ENDPOINT") or "").strip() or None
    key = (env.get("AUTOPILOT_EVENTS_KEY") or "").strip() or None
    if endpoint is not None and not re.match(r"^https?://[^/\s]+", endpoint):
        raise SettingsError(
            "setting AUTOPILOT_EVENTS_ENDPOINT must be the Event Grid topic's endpoint, "
            f"https://<topic>.<region>-1.eventgrid.azure.net/api/events, got {endpoint!r}")
    if key is not None and endpoint is None:
        raise SettingsError("setting AUTOPILOT_EVENTS_KEY is set but AUTOPILOT_EVENTS_ENDPOINT "
                            "is not: the key belongs to a topic; set its endpoint too")
    return EventsSettings(endpoint, key)


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name)
    if value is None or value.strip() == "":
        if default is None:
            raise SettingsError(f"setting {name} is required but not set")
        return default
    return value.strip()


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _get(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"setting {name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"setting {name} must be at least {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name, "true" if default else "false").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"setting {name} must be true or false, got {raw!r}")


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"setting {name} must be a number, got {raw!r}") from None
    if not value >= minimum or value == float("inf"):
        raise SettingsError(f"setting {name} must be a finite number >= {minimum}, got {raw!r}")
    return value


def _container(env: Mapping[str, str], name: str, default: str) -> str:
    value = _get(env, name, default)
    if not _CONTAINER.match(value):
        raise SettingsError(
            f"setting {name} must be a valid blob container name (3-63 lowercase letters, "
            f"digits and single hyphens), got {value!r}"
        )
    return value


def _template(env: Mapping[str, str], name: str, default: str) -> str:
    value = _get(env, name, default)
    if not _NAME_TEMPLATE.match(value):
        raise SettingsError(
            f"setting {name} must be an asset name containing '{{model}}', got {value!r}"
        )
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    storage = parse_connection(env, "AzureWebJobsStorage")
    inference_setting = "INFERENCE_STORAGE"
    # Unset, the inference files live in the host's account (the local default).
    inference = parse_connection(env, inference_setting, default=storage)
    telemetry, telemetry_client_id = _telemetry_settings(env)
    client_id = (env.get("AZURE_CLIENT_ID") or "").strip() or storage.client_id
    if telemetry_client_id is not None:
        if client_id is not None and client_id.lower() != telemetry_client_id.lower():
            raise SettingsError(
                f"setting APPLICATIONINSIGHTS_AUTHENTICATION_STRING names identity "
                f"{telemetry_client_id}, but the app signs in as {client_id} (AZURE_CLIENT_ID "
                "or AzureWebJobsStorage__clientId): the app uses one identity; make them equal")
        client_id = client_id or telemetry_client_id

    subscription = env.get("AZURE_SUBSCRIPTION_ID") or None
    backend_default = "azureml" if subscription else "local"
    backend = _get(env, "AUTOPILOT_BACKEND", backend_default).lower()
    if backend not in ("local", "azureml"):
        raise SettingsError(
            f"setting AUTOPILOT_BACKEND must be 'local' or 'azureml', got {backend!r}"
        )
    resource_group = env.get("AZURE_RESOURCE_GROUP") or None
    workspace = env.get("AZUREML_WORKSPACE_NAME") or None
    if backend == "azureml":
        for name, value in (
            ("AZURE_SUBSCRIPTION_ID", subscription),
            ("AZURE_RESOURCE_GROUP", resource_group),
            ("AZUREML_WORKSPACE_NAME", workspace),
        ):
            if not value:
                raise SettingsError(f"setting {name} is required when AUTOPILOT_BACKEND=azureml")

    table_prefix = _get(env, "LEDGER_TABLE_PREFIX", "autopilot")
    if not re.match(r"^[A-Za-z][A-Za-z0-9]{0,40}$", table_prefix):
        raise SettingsError(
            f"setting LEDGER_TABLE_PREFIX must be letters and digits starting with a letter, "
            f"got {table_prefix!r}"
        )

    return Settings(
        storage_connection=storage,
        inference_storage_setting=inference_setting,
        inference_connection=inference,
        azure_client_id=client_id,
        inference_container=_container(env, "INFERENCE_CONTAINER", "inference"),
        quarantine_container=_container(env, "QUARANTINE_CONTAINER", "inference-quarantine"),
        artifacts_container=_container(env, "ARTIFACTS_CONTAINER", "autopilot-artifacts"),
        table_prefix=table_prefix,
        backend=cast(Backend, backend),
        local_workspace_dir=_get(env, "LOCAL_WORKSPACE_DIR", ".local-workspace"),
        subscription_id=subscription,
        resource_group=resource_group,
        workspace_name=workspace,
        inference_datastore=_get(env, "INFERENCE_DATASTORE", "inference_store"),
        inference_asset_template=_template(env, "INFERENCE_ASSET_NAME", "{model}-inference"),
        outputs_asset_template=_template(env, "OUTPUTS_ASSET_NAME", "{model}-outputs"),
        reference_asset_template=_template(env, "REFERENCE_ASSET_NAME", "{model}-training"),
        max_file_bytes=_int(env, "MAX_INFERENCE_FILE_BYTES", 2 * 1024**3, minimum=1),
        label_columns=tuple(
            c.strip() for c in (env.get("LABEL_COLUMNS") or "").split(",") if c.strip()
        ),
        ingest_lease_seconds=_int(env, "INGEST_LEASE_SECONDS", 600, minimum=1),
        **_ground_truth_settings(env),
        early_drift_check=_bool(env, "EARLY_DRIFT_CHECK", True),
        early_drift_row_limit=_int(env, "EARLY_DRIFT_ROW_LIMIT", 1_000_000, minimum=1),
        early_drift_memory_mb=_int(env, "EARLY_DRIFT_MEMORY_MB", 32, minimum=1),
        **_drift_threshold_settings(env),
        **_monitor_settings(env),
        **_retrain_settings(env, backend),
        telemetry=telemetry,
        events=_events_settings(env),
    )


_COLUMN = re.compile(r"^[^,\s][^,]{0,253}$")


def _drift_threshold_settings(env: Mapping[str, str]) -> dict:
    from core.drift.thresholds import POLICIES, parse_thresholds

    policy = _get(env, "DRIFT_THRESHOLD_POLICY", "calibrated").lower()
    if policy not in POLICIES:
        raise SettingsError(f"setting DRIFT_THRESHOLD_POLICY must be one of "
                            f"{', '.join(POLICIES)}, got {policy!r}")
    k = _float(env, "DRIFT_THRESHOLD_K", 4.0)
    if k <= 0:
        raise SettingsError("setting DRIFT_THRESHOLD_K must be positive")
    rate = None
    if (env.get("DRIFT_FALSE_ALARM_RATE") or "").strip():
        rate = _float(env, "DRIFT_FALSE_ALARM_RATE", 0.0)
        if not 0 < rate < 1:
            raise SettingsError("setting DRIFT_FALSE_ALARM_RATE must be in (0, 1), e.g. 0.01 "
                                f"for one batch in a hundred, got {rate}")
    quantile = None
    if (env.get("DRIFT_THRESHOLD_QUANTILE") or "").strip():
        quantile = _float(env, "DRIFT_THRESHOLD_QUANTILE", 0.0)
        if not 0.5 <= quantile < 1:
            raise SettingsError("setting DRIFT_THRESHOLD_QUANTILE must be in [0.5, 1), "
                                f"got {quantile}")
    try:
        thresholds = parse_thresholds(env.get("DRIFT_THRESHOLDS") or "")
    except ValueError as exc:
        raise SettingsError(f"setting DRIFT_THRESHOLDS: {exc}") from None
    return {
        "drift_threshold_policy": policy,
        "drift_threshold_k": k,
        "drift_false_alarm_rate": rate,
        "drift_threshold_quantile": quantile,
        "drift_thresholds": thresholds,
        "expected_batch_rows": _int(env, "EXPECTED_BATCH_ROWS", 0),
    }


def _ground_truth_settings(env: Mapping[str, str]) -> dict:
    from core.domain.performance import parse_thresholds

    column = _get(env, "CORRELATION_ID_COLUMN", "correlationid")
    if not _COLUMN.match(column) or column != column.strip():
        raise SettingsError(
            f"setting CORRELATION_ID_COLUMN must be one column name (no commas), got {column!r}")
    wait = _float(env, "GROUND_TRUTH_WAIT_DAYS", 30.0)
    if wait <= 0:
        raise SettingsError(f"setting GROUND_TRUTH_WAIT_DAYS must be > 0, got {wait}")
    try:
        thresholds = parse_thresholds(env.get("PERFORMANCE_THRESHOLDS") or "",
                                      what="setting PERFORMANCE_THRESHOLDS")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    return {
        "ground_truth_join": _bool(env, "GROUND_TRUTH_JOIN", True),
        "correlation_column": column,
        "labelled_asset_template": _template(env, "LABELLED_ASSET_NAME", "{model}-labelled"),
        "ground_truth_wait_days": wait,
        "performance_thresholds": thresholds,
    }


def _monitor_settings(env: Mapping[str, str]) -> dict:
    from core.domain.monitoring import MonitorTrigger, check_time_zone, is_lookback, parse_emails

    task = _get(env, "MONITOR_ML_TASK", "classification").lower()
    if task not in ("classification", "regression"):
        raise SettingsError(
            f"setting MONITOR_ML_TASK must be classification or regression, got {task!r}"
        )
    schedule = _get(env, "MONITOR_SCHEDULE", "03:00")
    time_zone = _get(env, "MONITOR_TIME_ZONE", "UTC")
    try:
        check_time_zone(time_zone)
    except ValueError as exc:
        raise SettingsError(f"setting MONITOR_TIME_ZONE: {exc}") from None
    try:
        MonitorTrigger.parse(schedule, time_zone)
    except ValueError as exc:
        raise SettingsError(f"setting MONITOR_SCHEDULE: {exc}") from None
    try:
        emails = parse_emails(env.get("MONITOR_ALERT_EMAILS") or "")
    except ValueError as exc:
        raise SettingsError(f"setting MONITOR_ALERT_EMAILS: {exc}") from None
    lookback = _get(env, "MONITOR_LOOKBACK", "P7D")
    if not is_lookback(lookback):
        raise SettingsError(f"setting MONITOR_LOOKBACK must be an ISO duration like P7D, "
                            f"got {lookback!r}")
    # Serverless Spark 3.4 reached end of support on 2026-03-31; the pinned azure-ai-ml accepts
    # 3.5 (SPARK_RUNTIMES is what it accepts; a unit test holds the two equal).
    runtime = _get(env, "MONITOR_SPARK_RUNTIME", "3.5")
    if runtime not in SPARK_RUNTIMES:
        raise SettingsError(
            f"setting MONITOR_SPARK_RUNTIME must be a serverless Spark runtime the installed "
            f"azure-ai-ml accepts ({', '.join(SPARK_RUNTIMES)}), got {runtime!r}"
        )
    sink = _get(env, "EVENT_SINK", "inprocess")
    if sink not in ("inprocess", "none") and not re.match(r"^https?://", sink):
        raise SettingsError(
            f"setting EVENT_SINK must be inprocess, none or an http(s) URL, got {sink!r}"
        )
    return {
        "monitor_name_template": _template(env, "MONITOR_NAME", "{model}-monitor"),
        "watch_all_models": _bool(env, "WATCH_ALL_MODELS", True),
        "monitor_ml_task": task,
        "monitor_schedule": schedule,
        "monitor_time_zone": time_zone,
        "monitor_lookback": lookback,
        "monitor_alert_emails": emails,
        "monitor_instance_type": _get(env, "MONITOR_COMPUTE_INSTANCE", "standard_e4s_v3"),
        "monitor_runtime_version": runtime,
        "event_sink": sink,
    }


def _retrain_settings(env: Mapping[str, str], backend: str) -> dict:
    metric = (env.get("RETRAIN_PRIMARY_METRIC") or "").strip().lower() or None
    # The metrics core.training.model computes (not imported here: it pulls in scikit-learn).
    known = {"accuracy", "precision", "recall", "f1", "auc", "mae", "rmse", "r2"}
    if metric is not None and metric not in known:
        raise SettingsError(
            f"setting RETRAIN_PRIMARY_METRIC must be one of {', '.join(sorted(known))}, "
            f"got {metric!r}"
        )
    job_file = _get(env, "RETRAIN_JOB_FILE", "jobs/retrain.yml")
    return {
        "retrain_cooldown_hours": _float(env, "RETRAIN_COOLDOWN_HOURS", 24.0),
        "retrain_breaches_in_a_row": _int(env, "RETRAIN_BREACHES_IN_A_ROW", 1, minimum=1),
        "retrain_min_improvement": _float(env, "RETRAIN_MIN_IMPROVEMENT", 0.01),
        "retrain_primary_metric": metric,
        "retrain_on_early_drift": _bool(env, "RETRAIN_ON_EARLY_DRIFT", True),
        "retrain_lease_seconds": _int(env, "RETRAIN_LEASE_SECONDS", 1800, minimum=30),
        "retrain_job_file": job_file,
        "retrain_experiment": _get(env, "RETRAIN_EXPERIMENT", "autopilot-retraining"),
        "retrain_queue": _queue(env, "RETRAIN_QUEUE", "retrain-requests"),
    }


def _queue(env: Mapping[str, str], name: str, default: str) -> str:
    value = _get(env, name, default)
    if not _QUEUE.match(value):
        raise SettingsError(
            f"setting {name} must be a storage queue name (3-56 lowercase letters, digits and "
            f"single hyphens, leaving room for '-poison'), got {value!r}"
        )
    return value
