"""The local backend's `Jobs`: runs the same command job definition Azure ML would (the YAML
`az ml job create -f` accepts, e.g. jobs/retrain.yml) in a subprocess, to its end.

- inputs: each `azureml:<name>:<version>` (or `@latest`) becomes the local workspace's folder
  of that data asset or model version; literal inputs (numbers, strings) pass as they are;
  the caller's `inputs` replace the definition's placeholders (only declared inputs);
- outputs: a folder each, under `<workspace>/jobs/<job>/outputs/<name>`, collected as the
  job's outputs (what a registration points at);
- the command: `${{inputs.x}}` and `${{outputs.y}}` substituted (optional `$[[...]]` parts
  kept only when their inputs are set), run by `bash -c` in the `code:` folder with this
  service's Python first on PATH (the definition's `environment:` is Azure's; locally the
  job runs with the service's own packages), within `limits.timeout`;
- scores: MLflow run tags, as on Azure: the job runs with `MLFLOW_TRACKING_URI` pointing at an
  MLflow store in the job's folder, and its run's tags become the job's tags;
- the record: `<workspace>/jobs/<job>/job.json` (status `Completed` or `Failed`, exit code,
  the end of stderr as the error) and `std_log.txt` (stdout and stderr, as Azure names it).

Pipeline jobs are refused (`JobDefinitionError`): locally only command jobs run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from core.adapters.local.workspace import LocalWorkspace
from core.domain.retraining import JobStatus
from core.ports import NotFound

log = logging.getLogger(__name__)

_ASSET = re.compile(r"^azureml:(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?:[:@](?P<version>[^:@/]+))?$")
_REFERENCE = re.compile(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OPTIONAL = re.compile(r"\$\[\[(.*?)\]\]", re.S)
_INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$")
_MODEL_TYPES = ("custom_model", "mlflow_model", "triton_model")
DEFAULT_TIMEOUT = 7200
_STDERR_TAIL = 2000


class JobDefinitionError(ValueError):
    """The job definition cannot be run here (not a command job, undeclared input, ...)."""


class LocalJobs:
    def __init__(self, workspace: LocalWorkspace, *, python: str = sys.executable,
                 clock: Callable[[], float] = time.time, max_seconds: int | None = None):
        """``max_seconds``: the longest a job may run here whatever its `limits.timeout` says:
        the local job runs inside the retraining request's lease, and a job outliving the
        lease would be taken for a dead one and run a second time."""
        self._ws = workspace
        self._python = python
        self._clock = clock
        self._max_seconds = max_seconds
        self.root = workspace.root / "jobs"

    # ------------------------------------------------------------------ the port

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
        """Runs the command job to its end; returns its name (read it with `get_job`)."""
        definition = Path(definition_path)
        doc = self._definition(definition)
        declared = doc.get("inputs") or {}
        for name in inputs:
            if not _INPUT_NAME.match(name) or name not in declared:
                raise JobDefinitionError(
                    f"{definition}: the job declares no input {name!r} (it declares: "
                    f"{', '.join(sorted(declared)) or 'none'})")
        prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", experiment_name).strip("-") or "job"
        name = f"{prefix[:60]}-{uuid.uuid4().hex[:12]}"
        job_dir = self.root / name
        outputs_dir = job_dir / "outputs"
        outputs_dir.mkdir(parents=True)
        values: dict[str, str | None] = {}
        literals = {k: str(v) for k, v in (literal_inputs or {}).items() if k in declared and v}
        for input_name, spec in declared.items():
            if input_name in literals:
                values[input_name] = literals[input_name]
                continue
            wanted = inputs.get(input_name)
            kind = (input_types or {}).get(input_name) or (
                spec.get("type") if isinstance(spec, dict) else None)
            raw = wanted if wanted is not None else (
                spec.get("path", spec.get("default")) if isinstance(spec, dict) else spec)
            values[input_name] = self._resolve_input(raw, kind, definition.parent)
        outputs: dict[str, str | None] = {}
        for output_name in doc.get("outputs") or {}:
            folder = outputs_dir / str(output_name)
            folder.mkdir()
            outputs[str(output_name)] = str(folder)
        command = _substitute(str(doc["command"]), values, outputs)
        code = (definition.parent / str(doc.get("code") or ".")).resolve()
        timeout = int(((doc.get("limits") or {}).get("timeout")) or DEFAULT_TIMEOUT)
        limit = f"its timeout of {timeout} s"
        if self._max_seconds is not None and self._max_seconds < timeout:
            timeout = self._max_seconds
            limit = (f"{timeout} s, the time its retraining lease leaves it (setting "
                     "RETRAIN_LEASE_SECONDS; the definition's limits.timeout is longer)")
        record: dict[str, Any] = {
            "name": name, "display_name": display_name, "experiment_name": experiment_name,
            "definition": str(definition.resolve()), "command": command, "code": str(code),
            "tags": {**(doc.get("tags") or {}), **{str(k): str(v) for k, v in tags.items()}},
            "inputs": values, "outputs": outputs, "status": "Running",
            "started_at": self._clock(),
        }
        self._write(job_dir, record)
        env = self._environment(doc, code, job_dir, experiment_name)
        log.info("local job %s: %s", name, command)
        with open(job_dir / "std_log.txt", "w", encoding="utf-8") as out, \
                open(job_dir / "stderr.txt", "w+", encoding="utf-8") as err:
            try:
                done = subprocess.run(["bash", "-c", command], cwd=code, env=env, stdout=out,
                                      stderr=err, timeout=timeout, check=False)
                exit_code: int | None = done.returncode
                error = None
            except subprocess.TimeoutExpired:
                exit_code, error = None, f"the job ran past {limit}"
            err.seek(0)
            stderr = err.read()
        with open(job_dir / "std_log.txt", "a", encoding="utf-8") as out:
            out.write(stderr)
        if exit_code not in (0, None):
            tail = stderr.strip()[-_STDERR_TAIL:]
            error = f"exit code {exit_code}" + (f": {tail}" if tail else "")
        record.update(status="Completed" if exit_code == 0 else "Failed", exit_code=exit_code,
                      error=error, finished_at=self._clock())
        self._write(job_dir, record)
        return name

    def get_job(self, name: str) -> JobStatus:
        path = self.root / name / "job.json" if _JOB_NAME.match(name) and ".." not in name \
            else None
        if path is None or not path.is_file():
            raise NotFound(f"job {name} does not exist in the local workspace")
        record = json.loads(path.read_text(encoding="utf-8"))
        from core.training.runs import run_tags as read_run_tags

        run_tags = read_run_tags(path.parent / "mlruns")
        return JobStatus(
            name=record["name"], status=record["status"],
            tags={**record.get("tags", {}), **run_tags},
            properties={"exit_code": str(record.get("exit_code")),
                        "std_log": str(path.parent / "std_log.txt")},
            outputs=dict(record.get("outputs") or {}), error=record.get("error"),
        )

    # ------------------------------------------------------------------ steps

    @staticmethod
    def _definition(path: Path) -> dict[str, Any]:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise JobDefinitionError(f"job definition {path} does not exist "
                                     "(setting RETRAIN_JOB_FILE)") from None
        except yaml.YAMLError as exc:
            raise JobDefinitionError(f"job definition {path} is not YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise JobDefinitionError(f"{path}: not a job definition")
        kind = doc.get("type", "command")
        if kind != "command":
            raise JobDefinitionError(f"{path}: a {kind} job; the local backend runs command "
                                     "jobs only")
        if not isinstance(doc.get("command"), str) or not doc["command"].strip():
            raise JobDefinitionError(f"{path}: the job has no command")
        if not isinstance(doc.get("inputs") or {}, dict) or \
                not isinstance(doc.get("outputs") or {}, dict):
            raise JobDefinitionError(f"{path}: `inputs` and `outputs` must be mappings")
        return doc

    def _resolve_input(self, raw: Any, kind: str | None, base: Path) -> str | None:
        """An input's value on the command line: the local folder of an asset, or a literal."""
        if raw is None:
            return None
        if not isinstance(raw, str):
            return str(raw).lower() if isinstance(raw, bool) else str(raw)
        match = _ASSET.match(raw.strip())
        if match is None:
            if kind in (None, "string", "integer", "number", "boolean"):
                return raw
            path = (base / raw).resolve() if not raw.startswith("/") else Path(raw)
            if not path.exists():
                raise JobDefinitionError(f"input path {raw} does not exist")
            return str(path)
        name, version = match.group("name"), match.group("version")
        if kind in _MODEL_TYPES:
            model = (self._ws.latest_model(name) if version in (None, "latest")
                     else self._ws.get_model(name, version))
            if model is None:
                raise NotFound(f"model {name} has no version")
            return model.path
        asset = (self._ws.latest_data(name) if version in (None, "latest")
                 else self._ws.get_data(name, version))
        if asset is None:
            raise NotFound(f"data asset {name} has no version")
        return asset.path

    def _environment(self, doc: dict, code: Path, job_dir: Path,
                     experiment_name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env.update({str(k): str(v) for k, v in (doc.get("environment_variables") or {}).items()})
        env["PATH"] = os.pathsep.join([str(Path(self._python).parent), env.get("PATH", "")])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
        # Where the job's MLflow calls go (on Azure ML, the workspace's tracking server).
        env["MLFLOW_TRACKING_URI"] = (job_dir / "mlruns").resolve().as_uri()
        env["MLFLOW_EXPERIMENT_NAME"] = experiment_name
        env["MLFLOW_ALLOW_FILE_STORE"] = "true"
        env["AZUREML_RUN_ID"] = job_dir.name
        return env

    @staticmethod
    def _write(job_dir: Path, record: dict) -> None:
        tmp = job_dir / f".job.{uuid.uuid4().hex}.json"
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, job_dir / "job.json")


def _substitute(command: str, inputs: Mapping[str, str | None],
                outputs: Mapping[str, str | None]) -> str:
    def known(kind: str, name: str) -> str | None:
        return (inputs if kind == "inputs" else outputs).get(name)

    def optional(match: re.Match) -> str:
        part = match.group(1)
        refs = _REFERENCE.findall(part)
        return part if all(known(k, n) is not None for k, n in refs) else ""

    command = _OPTIONAL.sub(optional, command)

    def replace(match: re.Match) -> str:
        kind, name = match.group(1), match.group(2)
        value = known(kind, name)
        if value is None:
            raise JobDefinitionError(f"the command uses ${{{{{kind}.{name}}}}}, which the job "
                                     "does not declare or set")
        return _quote(value)

    return _REFERENCE.sub(replace, command)


def _quote(value: str) -> str:
    import shlex

    return shlex.quote(value)
