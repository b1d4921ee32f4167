"""The Azure ML workspace behind the ports: data assets, models, monitor schedules and retraining
jobs through `MLClient` (azure-ai-ml) with `DefaultAzureCredential`.

`azure.ai.ml` is imported inside the constructor and methods only: importing it costs about
1.5 s, and a cold start that only ingests a file must not pay for it.

Errors, mapped once here (`map_sdk_errors`): a missing entity raises `core.ports.NotFound`; an
unreachable or throttled service (connection errors, 408, 429, 5xx) raises
`core.ports.WorkspaceError`, which callers retry; a 409 propagates as the SDK raised it (the
callers that race on a create handle it); any other 4xx, and the SDK's own validation errors,
raise `core.ports.PermanentError` (a retry cannot fix them: callers record, acknowledge and say
why).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa

from core.adapters.azureml.schedule import build_monitor_schedule, monitor_spec_from_schedule
from core.adapters.monitor_toggle import ToggleByRewrite
from core.adapters.table_reader import UnreadableData, read_mltable, read_path, safe_relative
from core.domain.assets import (
    AssetType,
    DataAssetVersion,
    MLTable,
    ModelVersion,
    latest_version,
    sorted_versions,
)
from core.domain.monitoring import MonitorSpec
from core.domain.retraining import JobStatus
from core.ports import NotFound, PermanentError, StreamOpener, WorkspaceError

if TYPE_CHECKING:  # pragma: no cover
    from azure.ai.ml import MLClient

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
_INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@contextlib.contextmanager
def map_sdk_errors(what: str) -> Iterator[None]:
    """SDK/azure-core exceptions -> the ports' exceptions."""
    from azure.ai.ml.exceptions import MlException, ValidationErrorType
    from azure.core.exceptions import (
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except MlException as exc:
        # Some operations wrap the HTTP error (e.g. `data.get(label="latest")` on a missing
        # asset raises MlException <- ValidationException <- ResourceNotFoundError).
        cause = _http_cause(exc)
        if (
            isinstance(cause, ResourceNotFoundError)
            or getattr(cause, "status_code", 0) == 404
            # `models.get(label="latest")` on an empty list: no HTTP error, just this.
            or getattr(exc, "error_type", None) == ValidationErrorType.RESOURCE_NOT_FOUND
        ):
            raise NotFound(f"{what}: not found") from exc
        status = getattr(cause, "status_code", 0) or 0
        if isinstance(cause, (ServiceRequestError, ServiceResponseError)) \
                or _retryable(status):
            raise WorkspaceError(f"{what}: {cause}") from exc
        if status == 409:
            raise
        raise PermanentError(f"{what}: the workspace refused it: {_first_line(exc)}") from exc
    except ResourceNotFoundError as exc:
        raise NotFound(f"{what}: not found") from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise WorkspaceError(f"{what}: workspace unreachable: {exc}") from exc
    except HttpResponseError as exc:
        if exc.status_code == 404:
            raise NotFound(f"{what}: not found") from exc
        if _retryable(exc.status_code):
            raise WorkspaceError(f"{what}: HTTP {exc.status_code}: {exc.reason}") from exc
        if exc.status_code == 409 or exc.status_code is None:
            raise
        raise PermanentError(
            f"{what}: the workspace refused it (HTTP {exc.status_code}): {_first_line(exc)}"
        ) from exc


def _retryable(status: int | None) -> bool:
    return status is not None and (status in _RETRYABLE_STATUS or status >= 500)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _http_cause(exc: BaseException) -> BaseException | None:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (HttpResponseError, ServiceRequestError, ServiceResponseError)):
            return current
        current = current.__cause__ or current.__context__
    return None


def _created_at(entity: Any) -> str | None:
    context = getattr(entity, "creation_context", None)
    created = getattr(context, "created_at", None)
    if created is None:
        return None
    return created.isoformat() if hasattr(created, "isoformat") else str(created)


def _to_data_version(data: Any) -> DataAssetVersion:
    return DataAssetVersion(
        name=data.name,
        version=str(data.version),
        type=cast(AssetType, str(data.type)),
        path=str(data.path),
        tags=dict(data.tags or {}),
        description=data.description or "",
        created_at=_created_at(data),
    )


def _to_model_version(model: Any) -> ModelVersion:
    return ModelVersion(
        name=model.name,
        version=str(model.version),
        path=str(model.path),
        type=str(model.type or "custom_model"),
        tags=dict(model.tags or {}),
        properties={str(k): str(v) for k, v in (model.properties or {}).items()},
        description=model.description or "",
        created_at=_created_at(model),
    )


class AzureMLWorkspace(ToggleByRewrite):
    """`DataAssets` (plus models and monitor schedules) over one Azure ML workspace."""

    def __init__(
        self,
        *,
        inference_datastore: str,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        inference_container: str | None = None,
        ml_client: MLClient | None = None,
        credential: Any = None,
    ) -> None:
        """`inference_datastore`: the datastore registered for the inference container (from
        settings). `inference_container`, when given, makes `blob_uri` refuse other containers.
        `ml_client` is injected by tests; otherwise one is built with `DefaultAzureCredential`."""
        if ml_client is None:
            if not (subscription_id and resource_group and workspace_name):
                raise ValueError("subscription_id, resource_group and workspace_name are required")
            from azure.ai.ml import MLClient

            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            ml_client = MLClient(credential, subscription_id, resource_group, workspace_name)
        self._ml = ml_client
        self._datastore = inference_datastore
        self._container = inference_container

    @property
    def ml_client(self) -> MLClient:
        return self._ml

    # -- data assets -----------------------------------------------------------------------

    def blob_uri(self, container: str, blob_name: str) -> str | None:
        if self._container is not None and container != self._container:
            return None
        return f"azureml://datastores/{self._datastore}/paths/{blob_name.lstrip('/')}"

    def create_mltable_version(
        self,
        name: str,
        version: str,
        mltable: MLTable,
        *,
        files: Mapping[str, StreamOpener],
        tags: Mapping[str, str],
        description: str = "",
    ) -> DataAssetVersion:
        """Writes the MLTable and `files` to a temporary folder and registers it; the SDK
        uploads the folder to the workspace's default datastore. Idempotent: an existing
        version is returned as it is (data asset versions are immutable on Azure)."""
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Data
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        version = str(version)
        with contextlib.suppress(NotFound):
            return self.get_data(name, version)
        with tempfile.TemporaryDirectory(prefix="mltable-") as tmp:
            folder = Path(tmp) / name
            folder.mkdir()
            (folder / "MLTable").write_text(mltable.to_yaml(), encoding="utf-8")
            for file_name, opener in files.items():
                target = folder / safe_relative(file_name)
                target.parent.mkdir(parents=True, exist_ok=True)
                with opener() as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
            data = Data(
                name=name,
                version=version,
                type=AssetTypes.MLTABLE,
                path=str(folder),
                tags=dict(tags),
                description=description or None,
            )
            try:
                with map_sdk_errors(f"data {name}:{version}"):
                    created = self._ml.data.create_or_update(data)
            except (ResourceExistsError, HttpResponseError) as exc:
                # Another instance registered the same version first: return theirs.
                if isinstance(exc, ResourceExistsError) or exc.status_code == 409:
                    return self.get_data(name, version)
                raise
        return _to_data_version(created)

    def register_mltable_folder(
        self, name: str, version: str, path: str, *, tags: Mapping[str, str],
        description: str = "",
    ) -> DataAssetVersion:
        """Registers a folder holding an MLTable (a local one is uploaded; a job output
        URI is referenced) as `version` of `name`; an existing version is returned."""
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Data

        version = str(version)
        with contextlib.suppress(NotFound):
            return self.get_data(name, version)
        data = Data(name=name, version=version, type=AssetTypes.MLTABLE, path=str(path),
                    tags=dict(tags), description=description or None)
        with map_sdk_errors(f"data {name}:{version}"):
            return _to_data_version(self._ml.data.create_or_update(data))

    def get_data(self, name: str, version: str) -> DataAssetVersion:
        with map_sdk_errors(f"data {name}:{version}"):
            return _to_data_version(self._ml.data.get(name=name, version=str(version)))

    def list_data_versions(self, name: str) -> list[DataAssetVersion]:
        try:
            with map_sdk_errors(f"data {name}"):
                items = [_to_data_version(d) for d in self._ml.data.list(name=name)]
        except NotFound:
            return []
        return sorted_versions(items)

    def latest_data(self, name: str) -> DataAssetVersion | None:
        try:
            with map_sdk_errors(f"data {name}@latest"):
                return _to_data_version(self._ml.data.get(name=name, label="latest"))
        except NotFound:
            return None

    def read_table(self, asset: DataAssetVersion, columns: list[str] | None = None) -> pa.Table:
        """Downloads the asset's files with the SDK (the datastore's storage client) and reads
        them with the shared reader. MLTable paths may be relative to the MLTable file or
        `azureml://` datastore URIs; anything else (https, wasbs, abfss, globs) raises
        `UnreadableData`."""
        with tempfile.TemporaryDirectory(prefix="asset-") as tmp:
            root = Path(tmp)
            count = itertools.count()

            def resolve(uri: str) -> Path:
                if not uri.startswith("azureml://"):
                    raise UnreadableData(
                        f"{asset.asset_id}: cannot read MLTable path {uri!r}: only paths "
                        "relative to the MLTable file and azureml:// datastore URIs are read")
                return self._download(uri, root / f"path{next(count)}", what=asset.asset_id)

            try:
                if asset.type == "mltable":
                    folder = self._download(asset.path, root / "asset", what=asset.asset_id)
                    return read_mltable(folder, columns=columns, resolve=resolve)
                return read_path(resolve(asset.path), columns=columns)
            except UnreadableData as exc:
                if asset.asset_id in str(exc):
                    raise
                raise UnreadableData(f"{asset.asset_id}: {exc}") from None

    def _download(self, uri: str, destination: Path, *, what: str) -> Path:
        """Download an azureml:// datastore path (file or folder prefix); returns the local file
        for a single blob, or the folder."""
        from azure.ai.ml._artifacts._artifact_utilities import download_artifact_from_aml_uri

        destination.mkdir(parents=True, exist_ok=True)
        with map_sdk_errors(f"{what}: {uri}"):
            download_artifact_from_aml_uri(uri, str(destination), self._ml.datastores)
        found = [p for p in destination.rglob("*") if p.is_file()]
        if not found:
            raise NotFound(f"{what}: nothing stored at {uri}")
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        if not uri.endswith("/") and len(found) == 1 and found[0].name == name:
            return found[0]
        return destination

    # -- models ----------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        local_path: str | Path,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, str] | None = None,
        description: str = "",
        *,
        model_type: str = "custom_model",
    ) -> ModelVersion:
        """Uploads `local_path` (file or folder), or references a job output
        (azureml://jobs/<job>/outputs/<name>), and registers the next version of `name` as a
        `custom_model` or an `mlflow_model`."""
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Model

        if model_type not in (AssetTypes.CUSTOM_MODEL, AssetTypes.MLFLOW_MODEL):
            raise ValueError(f"model type must be custom_model or mlflow_model, not "
                             f"{model_type!r}")
        model = Model(
            name=name,
            path=str(local_path),
            type=model_type,
            tags=dict(tags or {}),
            properties=dict(properties or {}),
            description=description or None,
        )
        with map_sdk_errors(f"model {name}"):
            return _to_model_version(self._ml.models.create_or_update(model))

    def download_model(self, model: ModelVersion, destination: Path) -> Path:
        """Downloads the version's files with the SDK (`models.download`) into `destination`;
        returns the folder holding them (the SDK nests them under the model's name and the
        uploaded folder's)."""
        destination = Path(destination)
        destination.mkdir(parents=True, exist_ok=True)
        with map_sdk_errors(f"model {model.asset_id}"):
            self._ml.models.download(name=model.name, version=str(model.version),
                                     download_path=str(destination))
        found = [p for p in destination.rglob("*") if p.is_file()]
        if not found:
            raise NotFound(f"model {model.asset_id}: no files were downloaded")
        folder = destination
        while True:  # down through folders that hold nothing but one folder
            entries = list(folder.iterdir())
            if len(entries) != 1 or not entries[0].is_dir():
                return folder
            folder = entries[0]

    def get_model(self, name: str, version: str) -> ModelVersion:
        with map_sdk_errors(f"model {name}:{version}"):
            return _to_model_version(self._ml.models.get(name=name, version=str(version)))

    def latest_model(self, name: str) -> ModelVersion | None:
        """The last version in the one version order (not Azure's "latest" label, which is
        the most recently created): the monitor's target and the retraining champion must
        be the same version on every backend."""
        return latest_version(self.list_model_versions(name))

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        try:
            with map_sdk_errors(f"model {name}"):
                items = [_to_model_version(m) for m in self._ml.models.list(name=name)]
        except NotFound:
            return []
        return sorted_versions(items)

    def list_models(self) -> list[str]:
        """The names of every registered model (archived ones excluded, as the SDK lists them
        by default), sorted. One GET per page of model containers."""
        with map_sdk_errors("models"):
            return sorted({m.name for m in self._ml.models.list()})

    # -- monitor schedules -----------------------------------------------------------------

    def get_monitor(self, name: str) -> MonitorSpec | None:
        from azure.ai.ml.entities import MonitorSchedule

        try:
            with map_sdk_errors(f"schedule {name}"):
                schedule = self._ml.schedules.get(name=name)
        except NotFound:
            return None
        if not isinstance(schedule, MonitorSchedule):
            raise ValueError(f"schedule {name!r} exists but is not a monitor schedule")
        return monitor_spec_from_schedule(schedule)

    def create_or_update_monitor(self, spec: MonitorSpec) -> MonitorSpec:
        """Creates or replaces the schedule; returns the monitor as the service stored it."""
        with map_sdk_errors(f"schedule {spec.name}"):
            poller = self._ml.schedules.begin_create_or_update(build_monitor_schedule(spec))
            stored = poller.result()
        return monitor_spec_from_schedule(stored) if stored is not None else spec

    def list_monitors(self) -> list[MonitorSpec]:
        """Every monitor schedule, enabled or not; schedules this product cannot represent are
        skipped (and logged)."""
        from azure.ai.ml._restclient.arm_ml_service.models import ScheduleListViewType
        from azure.ai.ml.entities import MonitorSchedule

        out = []
        with map_sdk_errors("schedules"):
            schedules = list(self._ml.schedules.list(list_view_type=ScheduleListViewType.ALL))
        for schedule in schedules:
            if not isinstance(schedule, MonitorSchedule):
                continue
            try:
                out.append(monitor_spec_from_schedule(schedule))
            except ValueError as exc:
                log.info("skipping schedule %s: %s", schedule.name, exc)
        return sorted(out, key=lambda s: s.name)

    def trigger_monitor(self, name: str) -> str | None:
        """Runs the monitor once now; returns the submitted job's name when the service says."""
        with map_sdk_errors(f"schedule {name}"):
            result = self._ml.schedules.trigger(name=name)
        return getattr(result, "job_name", None)

    def delete_monitor(self, name: str) -> None:
        with map_sdk_errors(f"schedule {name}"):
            self._ml.schedules.begin_delete(name=name).result()

    # -- retraining jobs -------------------------------------------------------------------

    def submit_job(
        self,
        definition_path: str,
        *,
        inputs: Mapping[str, str],
        tags: Mapping[str, str],
        experiment_name: str,
        display_name: str | None = None,
        input_types: Mapping[str, str] | None = None,
        literal_inputs: Mapping[str, str] | None = None,
    ) -> str:
        """Loads a command or pipeline job definition (YAML, as `az ml job create -f`), points its
        inputs at `inputs` (name -> asset id such as "azureml:churn-training:3"), adds `tags` to
        its tags, sets the experiment (and display name) and submits it. Returns the job name
        (run id).

        Each input must be declared by the definition (a misspelt name would otherwise leave
        the job training on the definition's placeholder data); an input declared with a type
        (uri_folder, uri_file, ...) keeps it and only its path changes, any other becomes
        `Input(type="mltable", path=value)`. Inputs are set the way the CLI's `--set` does it,
        on the YAML before the SDK builds the job: a `Command` loaded from YAML ignores inputs
        assigned afterwards when it is submitted (azure-ai-ml 1.35.2). A `name:` in the
        definition is dropped so every submission is a new job with a generated name."""
        from azure.ai.ml import load_job

        declared = self._declared_inputs(definition_path)
        overrides: list[dict[str, Any]] = []
        for name, asset_id in inputs.items():
            if not _INPUT_NAME.match(name) or name not in declared:
                raise ValueError(
                    f"{definition_path}: the job declares no input {name!r} "
                    f"(it declares: {', '.join(sorted(declared)) or 'none'})"
                )
            spec = declared[name]
            wanted = (input_types or {}).get(name)
            if isinstance(spec, dict):  # keep its type (and mode...), change its path
                overrides.append({f"inputs.{name}.path": str(asset_id)})
                if wanted or not spec.get("type"):
                    overrides.append({f"inputs.{name}.type": wanted or "mltable"})
            else:  # a literal or a short-form reference: replace it
                overrides.append({f"inputs.{name}": {"type": wanted or "mltable",
                                                     "path": str(asset_id)}})
        for name, value in (literal_inputs or {}).items():
            if name in declared and value:  # a string input: its value, as `--set` sets it
                overrides.append({f"inputs.{name}": str(value)})
        job = load_job(definition_path, params_override=overrides)
        job.name = None
        if display_name is not None:
            job.display_name = display_name
        merged_tags = {**(job.tags or {}), **{str(k): str(v) for k, v in tags.items()}}
        with map_sdk_errors(f"job from {definition_path}"):
            created = self._ml.jobs.create_or_update(
                job, tags=merged_tags, experiment_name=experiment_name
            )
        return str(created.name)

    @staticmethod
    def _declared_inputs(definition_path: str) -> dict[str, Any]:
        import yaml

        with open(definition_path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        if not isinstance(doc, dict):
            raise ValueError(f"{definition_path}: not a job definition")
        declared = doc.get("inputs") or {}
        if not isinstance(declared, dict):
            raise ValueError(f"{definition_path}: `inputs` must be a mapping")
        return declared

    def get_job(self, name: str) -> JobStatus:
        """The job's status, tags, properties and outputs (name -> path or None). Raises
        NotFound for a job that does not exist."""
        with map_sdk_errors(f"job {name}"):
            job = self._ml.jobs.get(name)
        outputs = {}
        for output_name, output in (getattr(job, "outputs", None) or {}).items():
            path = getattr(output, "path", None)  # Output, or a pipeline's PipelineOutput
            outputs[str(output_name)] = str(path) if path is not None else None
        status = getattr(job, "status", None)
        error = getattr(job, "error", None)  # not every SDK entity carries it
        return JobStatus(
            name=str(job.name),
            status=str(getattr(status, "value", status)) if status is not None else None,
            tags={str(k): str(v) for k, v in (job.tags or {}).items()},
            properties={str(k): str(v) for k, v in (job.properties or {}).items()},
            outputs=outputs,
            error=str(getattr(error, "message", error))[:1000] if error else None,
        )
