"""Offline checks of the deployment templates (azure.yaml, infra/, scripts/postdeploy.*,
.funcignore) against the app's own code.

No Bicep compiler exists here, so the .bicep text is read by a small parser that knows Bicep's
strings (with interpolation), comments and bracket nesting. Each check is a function of the
template texts that returns its problems; the `test_*_catches_*` tests apply a small break to a
copy of the texts and show that the check reports it, so no check passes vacuously.

What the code needs is read from the code: setting names from core/settings.py (and any os.environ
read under core/ and functions/), the functions and bindings from the app itself (function_app
imported in a subprocess), event types and the threshold-breached tag from core/domain/events.py,
defaults from load_settings().
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------------------------------
# What the test knows that the code cannot tell it (each entry says why)
# ------------------------------------------------------------------------------------------

# Settings the code reads that the templates leave unset on purpose: the default applies.
# Every name here must be documented in README.md.
OPTIONAL: dict[str, str] = {
    "LOCAL_WORKSPACE_DIR": "local backend only; the templates set AUTOPILOT_BACKEND=azureml",
    "INFERENCE_ASSET_NAME": "asset naming convention; the default {model}-inference is documented",
    "OUTPUTS_ASSET_NAME": "asset naming convention; default {model}-outputs",
    "REFERENCE_ASSET_NAME": "asset naming convention; default {model}-training",
    "MAX_INFERENCE_FILE_BYTES": "tuning; default 2 GiB",
    "INGEST_LEASE_SECONDS": "tuning; default 600",
    "EARLY_DRIFT_CHECK": "on by default",
    "EARLY_DRIFT_ROW_LIMIT": "tuning; default 1,000,000 rows",
    "EARLY_DRIFT_MEMORY_MB": "tuning; default 32 MB",
    "MONITOR_NAME": "naming convention; default {model}-monitor",
    "MONITOR_LOOKBACK": "default P7D; model monitors can be retuned by tags",
    "RETRAIN_COOLDOWN_HOURS": "gate tuning; default 24",
    "RETRAIN_BREACHES_IN_A_ROW": "gate tuning; default 1",
    "RETRAIN_MIN_IMPROVEMENT": "gate tuning; default 0.01",
    "RETRAIN_PRIMARY_METRIC": "default f1 (rmse for regression)",
    "RETRAIN_ON_EARLY_DRIFT": "on by default",
    "RETRAIN_LEASE_SECONDS": "tuning; default 1800",
    "AUTOPILOT_EVENTS_KEY": "the templates' topic has local auth off: the app publishes with "
    "its identity (EventGrid Data Sender); a key is for topics made elsewhere",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "left unset on purpose: the app configures "
    "the Azure Monitor distro itself, with its identity's credential (README, Telemetry)",
    "GROUND_TRUTH_JOIN": "on by default",
    "CORRELATION_ID_COLUMN": "default correlationid, the data collector's own join column",
    "LABELLED_ASSET_NAME": "asset naming convention; default {model}-labelled",
    "GROUND_TRUTH_WAIT_DAYS": "tuning; default 30",
    "PERFORMANCE_THRESHOLDS": "none by default; models set autopilot.performance_threshold",
    "DRIFT_THRESHOLD_POLICY": "default calibrated (README, Alert thresholds)",
    "DRIFT_THRESHOLD_K": "tuning; default 4",
    "DRIFT_FALSE_ALARM_RATE": "unset by default: one k (DRIFT_THRESHOLD_K) for every model",
    "DRIFT_THRESHOLD_QUANTILE": "none by default: the fitted tail applies",
    "DRIFT_THRESHOLDS": "none by default: Azure's defaults where the policy needs fixed values",
    "EXPECTED_BATCH_ROWS": "default 0: the median of recent batches",
}

# Settings the templates set that the code does not read: who reads them. (The Application
# Insights connection and authentication strings are read by the host and by the app alike.)
SET_FOR_OTHERS: dict[str, str] = {}


@dataclass(frozen=True)
class Connection:
    services: tuple[str, ...]  # the storage services used through it
    account: str  # the storage symbol in infra/app/function-app.bicep its URIs must come from
    why: str


# Identity-based connections: NAME__<service>ServiceUri (or NAME__accountName) plus
# NAME__credential=managedidentity and NAME__clientId instead of a connection string in NAME.
CONNECTIONS: dict[str, Connection] = {
    "AzureWebJobsStorage": Connection(
        ("blob", "queue", "table"), "hostStorage",
        "host storage; retraining queues; ledger and state tables"),
    "INFERENCE_STORAGE": Connection(
        ("blob", "queue"), "inferenceStorage",
        "inference files and quarantine records; the blob trigger's poison queue"),
}
IDENTITY_SUFFIXES = {"accountName", "blobServiceUri", "queueServiceUri", "tableServiceUri",
                     "serviceUri", "credential", "clientId"}

# Built-in role definition ids (the same in every tenant), looked up when this was written:
# Azure-Samples functions-quickstart-python-azd-eventgrid-blob infra/app/rbac.bicep (Blob Data
# Owner, Queue and Table Data Contributor, Monitoring Metrics Publisher); Azure/bicep-registry-
# modules avm/res/event-grid/system-topic (EventGrid Data Sender) and avm/res/machine-learning-
# services/workspace (AzureML Data Scientist); Blob Data Contributor and Reader from the AVM-style
# built-in role tables of public Bicep modules, which all agree (and the python-azd-otel sample
# for Contributor). Nothing offline can re-check them against Azure.
BUILT_IN_ROLES: dict[str, str] = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "EventGrid Data Sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
}


@dataclass(frozen=True)
class RoleNeed:
    role: str
    file: str  # under infra/
    scope: str  # the symbol of the resource the role is assigned on
    scope_type: str
    principal: str  # the principalId expression
    why: str


APP = "identityPrincipalId"
REQUIRED_ROLES: list[RoleNeed] = [
    RoleNeed("Storage Blob Data Owner", "app/rbac.bicep", "hostStorage",
             "Microsoft.Storage/storageAccounts", APP,
             "Functions host with an identity-based AzureWebJobsStorage (samples), deployment "
             "package, artifacts, dead-lettered events"),
    RoleNeed("Storage Queue Data Contributor", "app/rbac.bicep", "hostStorage",
             "Microsoft.Storage/storageAccounts", APP, "retrain-requests and its poison queue"),
    RoleNeed("Storage Table Data Contributor", "app/rbac.bicep", "hostStorage",
             "Microsoft.Storage/storageAccounts", APP, "ledger and state tables"),
    RoleNeed("Storage Blob Data Contributor", "app/rbac.bicep", "inferenceStorage",
             "Microsoft.Storage/storageAccounts", APP,
             "read inference files, write quarantine records"),
    RoleNeed("Storage Queue Data Contributor", "app/rbac.bicep", "inferenceStorage",
             "Microsoft.Storage/storageAccounts", APP,
             "the blob trigger writes poison blobs to a queue on its connection's account"),
    RoleNeed("Storage Blob Data Reader", "app/rbac.bicep", "inferenceStorage",
             "Microsoft.Storage/storageAccounts", "workspacePrincipalId",
             "Azure ML reads the identity-based inference datastore with the workspace identity"),
    RoleNeed("Storage Blob Data Contributor", "app/rbac.bicep", "inferenceStorage",
             "Microsoft.Storage/storageAccounts", "userPrincipalId",
             "optional: the deployer uploads inference files without keys"),
    RoleNeed("Monitoring Metrics Publisher", "app/rbac.bicep", "applicationInsights",
             "Microsoft.Insights/components", APP, "telemetry with local auth off"),
    RoleNeed("EventGrid Data Sender", "app/rbac.bicep", "customTopic",
             "Microsoft.EventGrid/topics", APP, "publish the app's CloudEvents"),
    RoleNeed("AzureML Data Scientist", "app/azureml-access.bicep", "workspace",
             "Microsoft.MachineLearningServices/workspaces", APP,
             "data assets, models, monitor schedules, retraining jobs"),
    RoleNeed("Storage Blob Data Contributor", "app/azureml-workspace.bicep", "storage",
             "Microsoft.Storage/storageAccounts", APP,
             "data assets in the new workspace's default datastore"),
]

# Storage accounts allowed to keep shared-key access, and why.
SHARED_KEY_EXEMPT = {
    ("app/azureml-workspace.bicep", "storage"):
        "the Azure ML workspace's own storage: its default datastores use the account key",
}

# Which events each Event Grid-fed function is subscribed to (README "Deployment").
BLOB_CREATED = "Microsoft.Storage.BlobCreated"


def expected_event_types() -> dict[str, set[str]]:
    from core.domain import events

    return {
        "on_model_registered": {events.MODEL_REGISTERED},
        "on_azureml_run_event": {events.RUN_STATUS_CHANGED, events.RUN_COMPLETED,
                                 events.DATASET_DRIFT_DETECTED},
        "ingest_inference_blob": {BLOB_CREATED},
    }


# main.bicep parameters whose defaults must be the app's own defaults: app setting -> (param,
# attribute of load_settings() with only AzureWebJobsStorage set).
SETTING_PARAMS: dict[str, tuple[str, str]] = {
    "INFERENCE_CONTAINER": ("inferenceContainerName", "inference_container"),
    "QUARANTINE_CONTAINER": ("quarantineContainerName", "quarantine_container"),
    "ARTIFACTS_CONTAINER": ("artifactsContainerName", "artifacts_container"),
    "LEDGER_TABLE_PREFIX": ("ledgerTablePrefix", "table_prefix"),
    "INFERENCE_DATASTORE": ("inferenceDatastoreName", "inference_datastore"),
    "RETRAIN_EXPERIMENT": ("retrainExperiment", "retrain_experiment"),
    "MONITOR_ML_TASK": ("monitorMlTask", "monitor_ml_task"),
    "MONITOR_SCHEDULE": ("monitorSchedule", "monitor_schedule"),
    "MONITOR_TIME_ZONE": ("monitorTimeZone", "monitor_time_zone"),
    "MONITOR_COMPUTE_INSTANCE": ("monitorComputeInstance", "monitor_instance_type"),
    "MONITOR_SPARK_RUNTIME": ("monitorSparkRuntime", "monitor_runtime_version"),
}

# ------------------------------------------------------------------------------------------
# A small Bicep reader
# ------------------------------------------------------------------------------------------


class BicepError(ValueError):
    pass


def _string_end(text: str, i: int) -> int:
    """`text[i]` opens a '...' string; the index after it closes (interpolations skipped)."""
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
        elif c == "'":
            return j + 1
        elif text.startswith("${", j):
            j = _close(text, j + 1) + 1
        else:
            j += 1
    raise BicepError(f"unterminated string at {i}")


_PAIRS = {"{": "}", "[": "]", "(": ")"}


def _close(text: str, i: int) -> int:
    """Index of the bracket closing the one at `text[i]`."""
    stack = [_PAIRS[text[i]]]
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "'":
            j = _string_end(text, j)
            continue
        if c in _PAIRS:
            stack.append(_PAIRS[c])
        elif c in "}])":
            if c != stack.pop():
                raise BicepError(f"mismatched {c!r} at {j}")
            if not stack:
                return j
        j += 1
    raise BicepError(f"unclosed {text[i]!r} at {i}")


def strip_comments(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text.startswith("'''", i):
            end = text.find("'''", i + 3)
            end = len(text) if end < 0 else end + 3
            out.append(text[i:end])
            i = end
        elif text[i] == "'":
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _split_top(inner: str, separators: str) -> list[str]:
    """Split at top-level separators (outside strings and brackets)."""
    parts, start, j = [], 0, 0
    while j < len(inner):
        c = inner[j]
        if c == "'":
            j = _string_end(inner, j)
            continue
        if c in _PAIRS:
            j = _close(inner, j) + 1
            continue
        if c in separators:
            parts.append(inner[start:j])
            start = j + 1
        j += 1
    parts.append(inner[start:])
    return [p.strip() for p in parts if p.strip()]


_KEY = re.compile(r"^(?:'([^']*)'|([A-Za-z_$][\w$]*))\s*:\s*(.*)$", re.S)


def entries(obj: str) -> dict[str, str]:
    """The key -> value-expression pairs of an object literal `{...}` (or its inside)."""
    obj = obj.strip()
    if obj.startswith("{"):
        obj = obj[1:_close(obj, 0)]
    found = {}
    for part in _split_top(obj, "\n,"):
        m = _KEY.match(part)
        if not m:
            raise BicepError(f"not an object entry: {part[:60]!r}")
        found[m.group(1) if m.group(1) is not None else m.group(2)] = m.group(3).strip()
    return found


def items(array: str) -> list[str]:
    array = array.strip()
    if not array.startswith("["):
        raise BicepError(f"not an array: {array[:40]!r}")
    return _split_top(array[1:_close(array, 0)], "\n,")


def literal(expr: str) -> str | None:
    """The value of a plain '...' string literal (no interpolation), else None."""
    expr = expr.strip()
    if len(expr) >= 2 and expr[0] == "'" and _string_end(expr, 0) == len(expr):
        body = expr[1:-1]
        if "${" not in body:
            return body.replace("\\'", "'").replace("\\\\", "\\")
    return None


def call_args(expr: str, function: str) -> list[str] | None:
    expr = expr.strip()
    if not expr.startswith(function + "(") or _close(expr, len(function)) != len(expr) - 1:
        return None
    return _split_top(expr[len(function) + 1:-1], ",")


@dataclass
class Decl:
    kind: str  # resource or module
    symbol: str
    target: str  # resource type@version, or module path
    existing: bool
    condition: str | None
    body: str  # the {...} text

    @property
    def type(self) -> str:
        return self.target.split("@")[0]

    def get(self, *path: str) -> str | None:
        """The expression at a dotted path into the body (objects only)."""
        expr = self.body
        for key in path:
            try:
                expr = entries(expr).get(key)
            except BicepError:
                return None
            if expr is None:
                return None
        return expr


_DECL = re.compile(r"^(resource|module)\s+(\w+)\s+'([^']+)'\s*(existing\s*)?=\s*", re.M)


@dataclass
class Bicep:
    name: str
    text: str  # comments removed
    decls: list[Decl] = field(default_factory=list)
    params: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # type, default
    vars: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, name: str, source: str) -> Bicep:
        text = strip_comments(source)
        b = cls(name, text)
        for m in _DECL.finditer(text):
            j, condition = m.end(), None
            if text.startswith("if", j):
                open_paren = text.index("(", j)
                condition = text[open_paren + 1:_close(text, open_paren)]
                j = _close(text, open_paren) + 1
            j = text.index("{", j)
            b.decls.append(Decl(m.group(1), m.group(2), m.group(3), bool(m.group(4)),
                                condition, text[j:_close(text, j) + 1]))
        for m in re.finditer(r"^param\s+(\w+)\s+(\w+)(?:\s*=\s*(.+))?$", text, re.M):
            b.params[m.group(1)] = (m.group(2), m.group(3).strip() if m.group(3) else None)
        for m in re.finditer(r"^var\s+(\w+)\s*=\s*", text, re.M):
            j = m.end()
            end = _close(text, j) + 1 if text[j] in "{[" else text.index("\n", j)
            b.vars[m.group(1)] = text[j:end].strip()
        for m in re.finditer(r"^output\s+(\w+)\s+\w+\??\s*=\s*(.+)$", text, re.M):
            b.outputs[m.group(1)] = m.group(2).strip()
        return b

    def decl(self, symbol: str) -> Decl:
        found = [d for d in self.decls if d.symbol == symbol]
        if len(found) != 1:
            raise BicepError(f"{self.name}: {len(found)} declarations named {symbol}")
        return found[0]

    def of_type(self, prefix: str) -> list[Decl]:
        return [d for d in self.decls if d.target.startswith(prefix)]

    def module_for(self, path: str) -> Decl:
        found = [d for d in self.decls if d.kind == "module" and d.target == path]
        if len(found) != 1:
            raise BicepError(f"{self.name}: {len(found)} modules {path}")
        return found[0]

    def param_default(self, name: str) -> str | None:
        if name not in self.params:
            raise BicepError(f"{self.name}: no param {name}")
        default = self.params[name][1]
        return literal(default) if default is not None else None

    def expand(self, expr: str) -> str:
        """Inline `${var}` interpolations of this file's variables into a string expression."""
        def inline(m: re.Match) -> str:
            value = self.vars.get(m.group(1))
            if value is None:
                return m.group(0)
            text = literal(value)
            if text is not None:
                return text
            if value.startswith("'") and value.endswith("'"):
                return value[1:-1]
            return "${" + value + "}"
        previous = None
        while previous != expr:
            previous, expr = expr, re.sub(r"\$\{(\w+)\}", inline, expr)
        return expr


# ------------------------------------------------------------------------------------------
# The template texts, loaded once; checks take a Templates so tests can break a copy
# ------------------------------------------------------------------------------------------

TEXT_FILES = ("azure.yaml", ".funcignore", "README.md", "infra/README.md",
              "infra/main.parameters.json",
              "scripts/postdeploy.sh", "scripts/postdeploy.ps1")


@dataclass(frozen=True)
class Templates:
    files: dict[str, str]

    @classmethod
    def load(cls) -> Templates:
        files = {str(p.relative_to(ROOT)): p.read_text("utf-8")
                 for p in sorted((ROOT / "infra").rglob("*.bicep"))}
        for name in TEXT_FILES:
            files[name] = (ROOT / name).read_text("utf-8")
        return cls(files)

    def edited(self, path: str, old: str, new: str, count: int = 1) -> Templates:
        text = self.files[path]
        assert text.count(old) >= count, f"{old!r} not {count} times in {path}"
        return Templates({**self.files, path: text.replace(old, new, count)})

    def bicep(self, path: str) -> Bicep:
        return _parse(path, self.files[f"infra/{path}"])

    def all_bicep(self) -> list[Bicep]:
        return [_parse(p[len("infra/"):], t) for p, t in self.files.items()
                if p.endswith(".bicep")]


@cache
def _parse(name: str, text: str) -> Bicep:
    return Bicep.parse(name, text)


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates.load()


# ------------------------------------------------------------------------------------------
# What the code reads and registers
# ------------------------------------------------------------------------------------------


def _is_environ(node: ast.AST, env_names: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in env_names
    return (isinstance(node, ast.Attribute) and node.attr == "environ"
            and isinstance(node.value, ast.Name) and node.value.id == "os")


def settings_read(source: str, env_names: set[str]) -> set[str]:
    """Setting names a module reads: `_get(env, "X"...)`-style helpers (any module function whose
    first two parameters are `env, name`), `env.get("X")`, `os.environ[...]`, `os.getenv`.
    A name held in a module or local string constant (`inference_setting = "..."`) is resolved;
    computed names (f-strings) cannot be and are left out."""
    tree = ast.parse(source)
    constants = {t.id: n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                 and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                 for t in n.targets if isinstance(t, ast.Name)}
    helpers = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)
               and [a.arg for a in f.args.args[:2]] == ["env", "name"]}

    def name_of(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return constants.get(node.id)
        return None

    found: set[str | None] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id in helpers and len(node.args) >= 2
                    and _is_environ(node.args[0], env_names)):
                found.add(name_of(node.args[1]))
            elif isinstance(f, ast.Attribute) and node.args:
                environ_get = f.attr == "get" and _is_environ(f.value, env_names)
                os_getenv = (f.attr == "getenv" and isinstance(f.value, ast.Name)
                             and f.value.id == "os")
                if environ_get or os_getenv:
                    found.add(name_of(node.args[0]))
        elif isinstance(node, ast.Subscript) and _is_environ(node.value, env_names):
            found.add(name_of(node.slice))
    return {n for n in found if n}


@cache
def code_settings() -> frozenset[str]:
    names = settings_read((ROOT / "core/settings.py").read_text("utf-8"), {"env", "environ"})
    for path in [ROOT / "function_app.py", *(ROOT / "core").rglob("*.py"),
                 *(ROOT / "functions").rglob("*.py")]:
        names |= settings_read(path.read_text("utf-8"), {"environ"})
    return frozenset(names)


_INDEX_APP = """
import json, function_app
print(json.dumps({fn.get_function_name(): [json.loads(b) for b in fn.get_raw_bindings()]
                  for fn in function_app.app.get_functions()}))
"""


@cache
def app_bindings() -> dict[str, list[dict]]:
    """Function name -> raw bindings, as the host receives them: function_app indexed in a fresh
    interpreter (it reads its settings at import: the local backend, nothing reached)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE", "AUTOPILOT"))}
    env.update(AzureWebJobsStorage="UseDevelopmentStorage=true", AUTOPILOT_BACKEND="local",
               PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", _INDEX_APP], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def triggers(kind: str, **match: str) -> set[str]:
    return {name for name, bindings in app_bindings().items() for b in bindings
            if b["type"] == kind and all(b.get(k) == v for k, v in match.items())}


def app_defaults():
    from core.settings import load_settings

    return load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true"})


def retrain_queue_default() -> str:
    settings = app_defaults()
    if hasattr(settings, "retrain_queue"):
        return settings.retrain_queue
    from core.bootstrap import RETRAIN_QUEUE

    return RETRAIN_QUEUE


# ------------------------------------------------------------------------------------------
# App settings as they reach the Function App
# ------------------------------------------------------------------------------------------


def _resolve_object(expr: str, b: Bicep, caller: Decl | None) -> dict[str, str]:
    expr = expr.strip()
    if expr.startswith("{"):
        return entries(expr)
    args = call_args(expr, "union")
    if args is not None:
        merged: dict[str, str] = {}
        for arg in args:
            merged.update(_resolve_object(arg, b, caller))
        return merged
    if expr in b.vars:
        return _resolve_object(b.vars[expr], b, caller)
    if expr in b.params and caller is not None:
        passed = caller.get("params", expr)
        if passed is None:
            raise BicepError(f"{caller.symbol} does not pass {expr}")
        return _resolve_object(passed, b, None)
    raise BicepError(f"cannot resolve {expr[:60]!r} in {b.name}")


def app_settings(t: Templates) -> dict[str, str]:
    """Name -> value expression of every app setting the Function App gets: the AVM site
    module's appSettingsKeyValuePairs, with variables, union() and the object main.bicep passes
    for the `appSettings` parameter resolved."""
    site_file = t.bicep("app/function-app.bicep")
    (site,) = site_file.of_type("br/public:avm/res/web/site:")
    caller = t.bicep("main.bicep").module_for("app/function-app.bicep")
    expr = site.get("params", "appSettingsKeyValuePairs")
    if expr is None:
        raise BicepError("the site module sets no appSettingsKeyValuePairs")
    return _resolve_object(expr, site_file, caller)


def _identity_problems(name: str, conn: Connection, settings: dict[str, str]) -> list[str]:
    problems = []
    if literal(settings.get(f"{name}__credential", "")) != "managedidentity":
        problems.append(f"{name}__credential must be 'managedidentity'")
    if settings.get(f"{name}__clientId") != "identityClientId":
        problems.append(f"{name}__clientId must be the user-assigned identity's client id")
    if f"{name}__accountName" in settings:
        return problems
    for service in conn.services:
        uri = settings.get(f"{name}__{service}ServiceUri")
        expected = f"{conn.account}.properties.primaryEndpoints.{service}"
        if uri != expected:
            problems.append(f"{name}__{service}ServiceUri must be {expected}, is {uri}")
    return problems


def check_settings(t: Templates, optional: dict[str, str] = OPTIONAL) -> list[str]:
    """Every setting the code reads is set, or is a connection in identity form, or is optional."""
    settings = app_settings(t)
    problems = []
    for name in sorted(code_settings()):
        prefix = name.split("__")[0]
        if name in CONNECTIONS or (prefix in CONNECTIONS and name != prefix):
            if name == prefix and name in settings:
                problems.append(f"{name} is a connection string; use the identity form")
            problems += _identity_problems(prefix, CONNECTIONS[prefix], settings)
        elif name not in settings and name not in optional:
            problems.append(f"the code reads {name}; set it in the templates or add it to "
                            "OPTIONAL with the reason its default is right")
    return sorted(set(problems))


def check_optional(t: Templates, optional: dict[str, str] = OPTIONAL) -> list[str]:
    settings, readme = app_settings(t), t.files["README.md"]
    problems = []
    for name in optional:
        if f"`{name}`" not in readme:
            problems.append(f"OPTIONAL {name} is not documented in README.md")
        if name not in code_settings():
            problems.append(f"OPTIONAL {name} is not read by the code (stale entry)")
        if name in settings:
            problems.append(f"OPTIONAL {name} is set by the templates after all")
    return problems


def check_no_stray_settings(t: Templates) -> list[str]:
    """Each app setting is read by the code, is part of an identity connection, or has a reader
    named in SET_FOR_OTHERS: a misspelt name cannot hide."""
    problems = []
    for name in app_settings(t):
        prefix, _, suffix = name.partition("__")
        if name in code_settings() or name in SET_FOR_OTHERS:
            continue
        if prefix in CONNECTIONS and suffix in IDENTITY_SUFFIXES:
            continue
        problems.append(f"app setting {name} is read by nothing")
    return problems


def check_bindings_resolve(t: Templates) -> list[str]:
    """%NAME% expressions in bindings are set; binding connections are known connections."""
    settings, problems = app_settings(t), []
    for function, bindings in app_bindings().items():
        for binding in bindings:
            for key, value in binding.items():
                for name in re.findall(r"%(\w+)%", str(value)):
                    if name not in settings:
                        problems.append(f"{function}.{key} uses %{name}%, which is not set")
            if "connection" in binding and binding["connection"] not in CONNECTIONS:
                problems.append(f"{function} connects with {binding['connection']}: not in "
                                "CONNECTIONS")
    return problems


def test_the_connections_and_their_parts_are_the_codes():
    """CONNECTIONS above says which account each connection's URIs come from; which
    connections exist, what each must reach and which parts the identity form has is the
    code's (core.settings), so the two cannot drift apart."""
    from core import settings

    assert tuple(CONNECTIONS) == settings.CONNECTIONS
    assert {name: c.services for name, c in CONNECTIONS.items()} == \
        settings.CONNECTION_SERVICES
    assert set(settings.IDENTITY_PARTS) == IDENTITY_SUFFIXES


def test_settings_set_for_others_are_not_read_by_the_code():
    assert [name for name in SET_FOR_OTHERS if name in code_settings()] == []


def test_the_templates_identity_settings_load_in_the_app(templates):
    """The connection settings exactly as function-app.bicep writes them (endpoints as Azure
    returns primaryEndpoints, with a trailing slash) load, in identity form, with the
    identity's client id for Azure ML too."""
    from core.settings import load_settings

    settings = app_settings(templates)
    client_id = "3f0c1c1e-8a54-4a8e-9a53-1f6a2a0c0d11"
    env = {}
    for name, expr in settings.items():
        prefix, _, part = name.partition("__")
        if prefix not in CONNECTIONS or not part:
            continue
        if part.endswith("ServiceUri"):
            account = CONNECTIONS[prefix].account.lower()
            env[name] = f"https://{account}.{part.removesuffix('ServiceUri')}.core.windows.net/"
        elif expr == "identityClientId":
            env[name] = client_id
        else:
            env[name] = literal(expr) or ""
    env["AZURE_CLIENT_ID"] = client_id
    # Telemetry signs in as the same identity (the string the host reads, as the template
    # writes it) and publishes our events to the topic the template makes.
    auth = settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    env["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] = literal(
        auth.replace("${identityClientId}", client_id)) or ""
    env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = (
        "InstrumentationKey=00000000-0000-0000-0000-000000000001;"
        "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/")
    env["AUTOPILOT_EVENTS_ENDPOINT"] = "https://evgt-x.westeurope-1.eventgrid.azure.net/api/events"
    loaded = load_settings(env)
    assert loaded.telemetry.enabled and loaded.telemetry.entra_id
    assert loaded.events.endpoint and loaded.events.key is None
    for connection in (loaded.storage_connection, loaded.inference_connection):
        assert connection.uses_identity and connection.credential == "managedidentity"
        assert connection.client_id == client_id
    assert loaded.inference_connection.name == "INFERENCE_STORAGE"
    assert loaded.azure_client_id == client_id


def check_setting_values(t: Templates) -> list[str]:
    s, main, problems = app_settings(t), t.bicep("main.bicep"), []

    def expect(name: str, value: str) -> None:
        if s.get(name) != value:
            problems.append(f"{name} must be {value}, is {s.get(name)}")

    expect("AUTOPILOT_BACKEND", "'azureml'")
    expect("EVENT_SINK", "'none'")
    expect("AZURE_CLIENT_ID", "identityClientId")
    expect("APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
           "'ClientId=${identityClientId};Authorization=AAD'")
    expect("APPLICATIONINSIGHTS_CONNECTION_STRING",
           "applicationInsights.properties.ConnectionString")
    expect("AZURE_SUBSCRIPTION_ID", "subscription().subscriptionId")
    expect("AZURE_RESOURCE_GROUP", "workspaceResourceGroupName")
    expect("AZUREML_WORKSPACE_NAME", "workspaceName")
    expect("RETRAIN_QUEUE", "retrainQueueName")
    expect("RETRAIN_JOB_FILE", "retrainJobFile")
    expect("AUTOPILOT_EVENTS_ENDPOINT", "events.outputs.customTopicEndpoint")
    if t.bicep("app/events.bicep").outputs.get("customTopicEndpoint") != \
            "customTopic.properties.endpoint":
        problems.append("events.bicep must output the custom topic's endpoint")
    if main.param_default("retrainQueueName") != retrain_queue_default():
        problems.append("retrainQueueName's default is not the app's retraining queue")
    from core.settings import SPARK_RUNTIMES

    allowed = re.search(r"@allowed\(\[([^\]]*)\]\)\s*param monitorSparkRuntime", main.text)
    if allowed is None or tuple(literal(v) for v in allowed.group(1).split()) != SPARK_RUNTIMES:
        problems.append("monitorSparkRuntime's @allowed values are not the Spark runtimes the "
                        f"installed azure-ai-ml accepts {SPARK_RUNTIMES}")
    job_file = main.param_default("retrainJobFile")
    if job_file != "jobs/retrain.yml" or not (ROOT / job_file).is_file():
        problems.append(f"RETRAIN_JOB_FILE default {job_file} is not the example job")
    defaults = app_defaults()
    for setting, (param, attribute) in SETTING_PARAMS.items():
        expect(setting, param)
        if main.param_default(param) != getattr(defaults, attribute):
            problems.append(f"{param} default {main.param_default(param)!r} is not the app's "
                            f"{getattr(defaults, attribute)!r}")
    return problems


def check_wiring(t: Templates) -> list[str]:
    """The storage, identity and workspace values reach the modules that use them."""
    main, problems = t.bicep("main.bicep"), []
    wants = {
        "app/function-app.bicep": {
            "hostStorageAccountName": "hostStorage.outputs.name",
            "inferenceStorageAccountName": "inferenceStorage.outputs.name",
            "identityId": "identity.outputs.resourceId",
            "identityClientId": "identity.outputs.clientId",
        },
        "app/rbac.bicep": {
            "identityPrincipalId": "identity.outputs.principalId",
            "hostStorageAccountName": "hostStorage.outputs.name",
            "inferenceStorageAccountName": "inferenceStorage.outputs.name",
            "applicationInsightsName": "monitoring.outputs.name",
            "customTopicName": "events.outputs.customTopicName",
            "workspacePrincipalId": "azureml.outputs.workspacePrincipalId",
        },
        "app/events.bicep": {
            "inferenceStorageAccountName": "inferenceStorage.outputs.name",
            "identityResourceId": "identity.outputs.resourceId",
        },
        "app/azureml-access.bicep": {
            "workspaceName": "workspaceName",
            "identityResourceId": "identity.outputs.resourceId",
            "inferenceStorageAccountName": "inferenceStorage.outputs.name",
            "inferenceContainerName": "inferenceContainerName",
            "inferenceDatastoreName": "inferenceDatastoreName",
            "identityPrincipalId": "identity.outputs.principalId",
        },
    }
    for path, params in wants.items():
        module = main.module_for(path)
        for param, value in params.items():
            if module.get("params", param) != value:
                problems.append(f"main.bicep passes {path} {param}="
                                f"{module.get('params', param)}, not {value}")
    for path, symbol, param in [("app/function-app.bicep", "hostStorage", "hostStorageAccountName"),
                                ("app/function-app.bicep", "inferenceStorage",
                                 "inferenceStorageAccountName"),
                                ("app/rbac.bicep", "hostStorage", "hostStorageAccountName"),
                                ("app/rbac.bicep", "inferenceStorage",
                                 "inferenceStorageAccountName")]:
        if t.bicep(path).decl(symbol).get("name") != param:
            problems.append(f"{path} {symbol} is not the account named by {param}")
    # The system topics write dead-lettered events with the app identity (Blob Data Owner on the
    # host account, where the dead-letter container is).
    for path in ("app/events.bicep", "app/azureml-access.bicep"):
        for topic in t.bicep(path).of_type("Microsoft.EventGrid/systemTopics@"):
            identities = entries(topic.get("identity", "userAssignedIdentities") or "{}")
            if list(identities) != ["${identityResourceId}"] or \
                    topic.get("identity", "type") != "'UserAssigned'":
                problems.append(f"{path} {topic.symbol} must carry the app identity")
    if main.decl("hostStorage").get("params", "blobServices") is None or \
            "deploymentStorageContainerName" not in main.decl("hostStorage").body:
        problems.append("the deployment container must be in the host account")
    return problems


# ------------------------------------------------------------------------------------------
# Role assignments
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    file: str
    symbol: str
    scope: str
    role_key: str
    guid: str
    principal: str


def assignments(t: Templates) -> list[Assignment]:
    found = []
    for b in t.all_bicep():
        role_ids = entries(b.vars["roleIds"]) if "roleIds" in b.vars else {}
        for d in b.of_type("Microsoft.Authorization/roleAssignments@"):
            role = d.get("properties", "roleDefinitionId") or ""
            m = re.fullmatch(r"subscriptionResourceId\('Microsoft\.Authorization/"
                             r"roleDefinitions',\s*roleIds\.(\w+)\)", role)
            if not m or m.group(1) not in role_ids:
                raise BicepError(f"{b.name} {d.symbol}: role id {role!r} is not "
                                 "subscriptionResourceId(..., roleIds.<name>)")
            found.append(Assignment(b.name, d.symbol, d.get("scope") or "", m.group(1),
                                    literal(role_ids[m.group(1)]) or "",
                                    d.get("properties", "principalId") or ""))
    return found


def _key(role: str) -> str:
    return re.sub(r"[^a-z]", "", role.lower())


def check_roles(t: Templates, required: list[RoleNeed] = REQUIRED_ROLES) -> list[str]:
    found, problems = assignments(t), []
    by_guid = {guid: role for role, guid in BUILT_IN_ROLES.items()}
    for a in found:
        role = by_guid.get(a.guid)
        if role is None:
            problems.append(f"{a.file} {a.symbol}: {a.guid} is not a known built-in role")
        elif _key(role) != _key(a.role_key):
            problems.append(f"{a.file}: roleIds.{a.role_key} holds the id of {role}")
    matched = set()
    for need in required:
        hits = [a for a in found if a.file == need.file and a.scope == need.scope
                and a.guid == BUILT_IN_ROLES[need.role] and a.principal == need.principal]
        if not hits:
            problems.append(f"missing: {need.role} on {need.file} {need.scope} for "
                            f"{need.principal} ({need.why})")
            continue
        matched.update(hits)
        scope = t.bicep(need.file).decl(need.scope)
        if scope.type != need.scope_type:
            problems.append(f"{need.file} {need.scope} is a {scope.type}, not {need.scope_type}")
    for a in found:
        if a not in matched:
            problems.append(f"{a.file} {a.symbol} assigns {by_guid.get(a.guid, a.guid)} on "
                            f"{a.scope}: not in REQUIRED_ROLES (say why it is needed)")
    return problems


# ------------------------------------------------------------------------------------------
# Event Grid subscriptions
# ------------------------------------------------------------------------------------------


@dataclass
class Subscription:
    file: str
    symbol: str
    webhook: str  # eventgrid or blobs
    function: str
    key_param: str
    event_types: list[str]
    filters: list[tuple[str, str, list[str]]]
    subject_begins_with: str | None
    body: Decl


def event_subscriptions(t: Templates) -> list[Subscription]:
    subs = []
    for b in t.all_bicep():
        for d in b.of_type("Microsoft.EventGrid/systemTopics/eventSubscriptions@"):
            url = b.expand(d.get("properties", "destination", "properties", "endpointUrl") or "")
            m = re.fullmatch(r"'https://\$\{functionAppHostname\}/runtime/webhooks/(\w+)"
                             r"\?functionName=([\w.]+)&code=\$\{uriComponent\((\w+)\)\}'", url)
            if not m:
                raise BicepError(f"{b.name} {d.symbol}: unexpected endpoint {url!r}")
            filt = d.get("properties", "filter") or "{}"
            types = [literal(x) or x for x in items(entries(filt).get("includedEventTypes", "[]"))]
            filters = []
            for f in items(entries(filt).get("advancedFilters", "[]")):
                e = entries(f)
                filters.append((literal(e["operatorType"]) or "", literal(e["key"]) or "",
                                [literal(v) or v for v in items(e["values"])]))
            subject = entries(filt).get("subjectBeginsWith")
            subs.append(Subscription(b.name, d.symbol, m.group(1), m.group(2), m.group(3),
                                     types, filters, subject, d))
    return subs


def readme_threshold_message(readme: str) -> str:
    m = re.search(r"\*String contains\*\s+`([^`]+)`", readme)
    assert m, "README.md no longer gives the threshold-breached filter value"
    return m.group(1)


def check_subscriptions(t: Templates) -> list[str]:
    from core.domain import events

    subs, problems = event_subscriptions(t), []
    event_grid_functions = triggers("eventGridTrigger")
    blob_functions = triggers("blobTrigger", source="EventGrid")
    covered: dict[str, set[str]] = {}
    for s in subs:
        where = f"{s.file} {s.symbol}"
        if s.webhook == "eventgrid":
            if s.function not in event_grid_functions:
                problems.append(f"{where}: {s.function} is not an Event Grid trigger of the app")
            if s.key_param != "eventGridExtensionKey":
                problems.append(f"{where}: the eventgrid webhook needs the eventgrid_extension key")
            function = s.function
        elif s.webhook == "blobs":
            function = s.function.removeprefix("Host.Functions.")
            if not s.function.startswith("Host.Functions.") or function not in blob_functions:
                problems.append(f"{where}: {s.function} is not Host.Functions.<an Event Grid "
                                "blob trigger>")
            if s.key_param != "blobsExtensionKey":
                problems.append(f"{where}: the blobs webhook needs the blobs_extension key")
        else:
            problems.append(f"{where}: unknown webhook {s.webhook}")
            continue
        covered.setdefault(function, set()).update(s.event_types)
        # Blob events come from the inference account's topic, the rest from the workspace's.
        topic = t.bicep(s.file).decl(s.body.get("parent") or "")
        want_topic = "inferenceSystemTopicName" if s.webhook == "blobs" else "systemTopicName"
        if topic.type != "Microsoft.EventGrid/systemTopics" or topic.get("name") != want_topic:
            problems.append(f"{where}: its topic is not the one named by {want_topic}")
        if s.filters and len(s.event_types) != 1:
            problems.append(f"{where}: advanced filters apply to every event type of a "
                            "subscription; give each filtered type its own")
        for part in ("retryPolicy", "deadLetterWithResourceIdentity"):
            if s.body.get("properties", part) is None:
                problems.append(f"{where}: no {part}")
    for function in sorted(event_grid_functions | blob_functions):
        if function not in covered:
            problems.append(f"no subscription delivers to {function}")
    for function, wanted in expected_event_types().items():
        if covered.get(function, set()) != wanted:
            problems.append(f"{function} gets {sorted(covered.get(function, set()))}, "
                            f"should get {sorted(wanted)}")

    def only(event_type: str) -> Subscription | None:
        hits = [s for s in subs if s.event_types == [event_type]]
        if len(hits) != 1:
            problems.append(f"{len(hits)} subscriptions for {event_type}")
            return None
        return hits[0]

    breached = only(events.RUN_STATUS_CHANGED)
    message = readme_threshold_message(t.files["README.md"])
    want = [("StringContains", f"data.RunTags.{events.THRESHOLD_BREACHED_TAG}", [message])]
    if breached and breached.filters != want:
        problems.append(f"RunStatusChanged filter is {breached.filters}, should be {want}")
    if f"data.RunTags.{events.THRESHOLD_BREACHED_TAG}" not in t.files["README.md"]:
        problems.append("README.md no longer names the threshold-breached filter key")
    completed = only(events.RUN_COMPLETED)
    if completed and completed.filters != [("StringIn", "data.ExperimentName",
                                            ["retrainExperiment"])]:
        problems.append(f"RunCompleted filter is {completed.filters}, should be StringIn "
                        "data.ExperimentName [retrainExperiment]")
    blob = only(BLOB_CREATED)
    want_subject = "'/blobServices/default/containers/${inferenceContainerName}/'"
    if blob and blob.subject_begins_with != want_subject:
        problems.append(f"BlobCreated subject filter is {blob.subject_begins_with}, should be "
                        f"{want_subject}")
    for name, bindings in app_bindings().items():
        for binding in bindings:
            if name in blob_functions and not binding["path"].startswith("%INFERENCE_CONTAINER%/"):
                problems.append(f"{name} no longer watches %INFERENCE_CONTAINER%")
    return problems


# What the hooks pass to infra/subscriptions/main.bicep: parameter -> (azd environment value,
# the main.bicep expression that output must be).
HOOK_INPUTS: dict[str, tuple[str, str]] = {
    "functionAppHostname": ("AZURE_FUNCTION_APP_HOSTNAME", "functionApp.outputs.defaultHostname"),
    "inferenceSystemTopicName": ("INFERENCE_SYSTEM_TOPIC_NAME",
                                 "events.outputs.inferenceSystemTopicName"),
    "inferenceContainerName": ("INFERENCE_CONTAINER_NAME", "inferenceContainerName"),
    "azuremlResourceGroup": ("AZUREML_RESOURCE_GROUP", "workspaceResourceGroupName"),
    "azuremlSystemTopicName": ("AZUREML_SYSTEM_TOPIC_NAME", "azureml.outputs.systemTopicName"),
    "retrainExperiment": ("RETRAIN_EXPERIMENT", "retrainExperiment"),
    "identityResourceId": ("AZURE_IDENTITY_RESOURCE_ID", "identity.outputs.resourceId"),
    "deadLetterStorageAccountId": ("DEAD_LETTER_STORAGE_ACCOUNT_ID",
                                   "hostStorage.outputs.resourceId"),
    "deadLetterContainerName": ("DEAD_LETTER_CONTAINER_NAME", "deadLetterContainerName"),
}
# Outputs the hooks use to find the app and read its keys.
HOOK_LOOKUPS = {"RESOURCE_GROUP": "rg.name", "AZURE_FUNCTION_APP_NAME": "functionApp.outputs.name"}


def check_parameter_chain(t: Templates) -> list[str]:
    """The subscriptions get the values the app runs with: main.bicep -> azd output -> hook ->
    infra/subscriptions (-> its Azure ML module); the container and the experiment the filters
    use are the ones in the app settings."""
    main, subs_main = t.bicep("main.bicep"), t.bicep("subscriptions/main.bicep")
    problems = []
    for param, (output, source) in HOOK_INPUTS.items():
        if main.outputs.get(output) != source:
            problems.append(f"main.bicep output {output} is {main.outputs.get(output)}, "
                            f"not {source}")
        for hook in ("scripts/postdeploy.sh", "scripts/postdeploy.ps1"):
            if hook_parameters(t.files[hook]).get(param) != output:
                problems.append(f"{hook} does not pass {param} from {output}")
    for output, source in HOOK_LOOKUPS.items():
        if main.outputs.get(output) != source:
            problems.append(f"main.bicep output {output} is not {source}")
    settings = app_settings(t)
    for setting, param in (("INFERENCE_CONTAINER", "inferenceContainerName"),
                           ("RETRAIN_EXPERIMENT", "retrainExperiment")):
        if settings.get(setting) != param:
            problems.append(f"app setting {setting} is not main.bicep's {param}")
    azureml = subs_main.module_for("azureml.bicep")
    for param in ("retrainExperiment", "functionAppHostname", "eventGridExtensionKey"):
        if azureml.get("params", param) != param:
            problems.append(f"subscriptions/main.bicep does not pass {param} on")
    if azureml.get("params", "systemTopicName") != "azuremlSystemTopicName" or \
            azureml.get("scope") != "resourceGroup(azuremlResourceGroup)":
        problems.append("the Azure ML subscriptions must go to the workspace's system topic")
    if "deadLetterContainerName" not in (main.decl("hostStorage").get("params", "blobServices")
                                         or ""):
        problems.append("the dead-letter container must be created in the host account")
    return problems


def check_parameters_file(t: Templates) -> list[str]:
    """infra/main.parameters.json (azd's inputs) names only main.bicep parameters and gives every
    one without a default."""
    main = t.bicep("main.bicep")
    given = set(json.loads(t.files["infra/main.parameters.json"])["parameters"])
    problems = [f"main.parameters.json sets {p}, which main.bicep does not take"
                for p in sorted(given - set(main.params))]
    problems += [f"main.parameters.json does not give {p}" for p, (_, default)
                 in main.params.items() if default is None and p not in given]
    return problems


# ------------------------------------------------------------------------------------------
# Hooks
# ------------------------------------------------------------------------------------------

SECRET_PARAMS = {"eventGridExtensionKey": "eventgrid_extension",
                 "blobsExtensionKey": "blobs_extension"}


def hook_parameters(script: str) -> dict[str, str]:
    """Template parameter -> the azd environment variable a hook passes for it (`VAR:-default`
    when the hook has a default, `$name` for a pwsh local)."""
    sh = re.findall(r"^\s*(\w+)=\"\$\{?(\w+(?::-[^}]*)?)\}?\"", script, re.M)
    ps = re.findall(r"^\s*(\w+)=\$env:(\w+)", script, re.M)
    computed = re.findall(r"^\s*(\w+)=\$(\w+)\s", script, re.M)  # pwsh: from a local variable
    return {**dict(sh), **dict(ps), **{k: f"${v}" for k, v in computed}}


def check_hooks(t: Templates) -> list[str]:
    config = yaml.safe_load(t.files["azure.yaml"])
    problems = []
    runs = {"posix": "./scripts/postdeploy.sh", "windows": "./scripts/postdeploy.ps1"}
    for platform, run in runs.items():
        hook = config.get("hooks", {}).get("postdeploy", {}).get(platform, {})
        if hook.get("run") != run:
            problems.append(f"azure.yaml postdeploy {platform} should run {run}")
    subs_main = t.bicep("subscriptions/main.bicep")
    main = t.bicep("main.bicep")
    required = {p for p, (_, default) in subs_main.params.items() if default is None}
    for path in runs.values():
        script = t.files[path.removeprefix("./")]
        if "--template-file infra/subscriptions/main.bicep" not in script:
            problems.append(f"{path} does not deploy infra/subscriptions/main.bicep")
        passed = hook_parameters(script)
        if "az functionapp keys list" not in script or "systemKeys." not in script:
            problems.append(f"{path} does not read the system keys with az functionapp keys list")
        for param, key in SECRET_PARAMS.items():
            if f"'{key}'" not in script and f" {key})" not in script:
                problems.append(f"{path} does not read the {key} key")
            if not re.search(rf"\"?{param}\"?\s*[:=]\s*@?\{{\s*\"?value\"?\s*[:=]", script):
                problems.append(f"{path} does not put {param} in the parameters file")
            passed.pop(param, None)
        for param in sorted(required - set(passed) - set(SECRET_PARAMS)):
            problems.append(f"{path} does not pass {param}")
        for param, source in passed.items():
            if param not in subs_main.params:
                problems.append(f"{path} passes {param}, which the template does not take")
            elif not source.startswith("$") and ":-" not in source and \
                    source not in main.outputs and source != "AZURE_SUBSCRIPTION_ID":
                problems.append(f"{path} reads {source} for {param}: not a main.bicep output")
    return problems


# ------------------------------------------------------------------------------------------
# Security and hosting settings
# ------------------------------------------------------------------------------------------


def check_security(t: Templates) -> list[str]:
    problems = []
    for b in t.all_bicep():
        for d in b.decls:
            if d.existing:
                continue
            where = f"{b.name} {d.symbol}"
            if d.target.startswith("br/public:avm/res/storage/storage-account:"):
                props = entries(d.get("params") or "{}")
            elif d.type == "Microsoft.Storage/storageAccounts":
                props = entries(d.get("properties") or "{}")
            else:
                props = None
            if props is not None:
                if (b.name, d.symbol) not in SHARED_KEY_EXEMPT and \
                        props.get("allowSharedKeyAccess") != "false":
                    problems.append(f"{where}: allowSharedKeyAccess must be false")
                if props.get("minimumTlsVersion") != "'TLS1_2'":
                    problems.append(f"{where}: minimumTlsVersion must be TLS1_2")
                if props.get("allowBlobPublicAccess") != "false":
                    problems.append(f"{where}: allowBlobPublicAccess must be false")
            if d.target.startswith("br/public:avm/res/insights/component:") and \
                    d.get("params", "disableLocalAuth") != "true":
                problems.append(f"{where}: Application Insights needs disableLocalAuth: true")
            if d.type == "Microsoft.EventGrid/topics":
                if d.get("properties", "disableLocalAuth") != "true":
                    problems.append(f"{where}: the custom topic needs disableLocalAuth: true")
                if d.get("properties", "inputSchema") != "'CloudEventSchemaV1_0'":
                    problems.append(f"{where}: the custom topic takes CloudEvents 1.0")
    return problems


def check_hosting(t: Templates) -> list[str]:
    main, site_file = t.bicep("main.bicep"), t.bicep("app/function-app.bicep")
    problems = []
    (plan,) = main.of_type("br/public:avm/res/web/serverfarm:")
    if plan.get("params", "sku", "name") != "'FC1'" or \
            plan.get("params", "sku", "tier") != "'FlexConsumption'":
        problems.append("the plan must be FC1 / FlexConsumption")
    fa = main.module_for("app/function-app.bicep")
    if fa.get("params", "runtimeName") != "'python'" or \
            fa.get("params", "runtimeVersion") != "'3.11'":
        problems.append("the app must run Python 3.11")
    (site,) = site_file.of_type("br/public:avm/res/web/site:")
    config = ("params", "functionAppConfig")
    if site.get(*config, "runtime", "name") != "runtimeName" or \
            site.get(*config, "runtime", "version") != "runtimeVersion":
        problems.append("functionAppConfig.runtime must use runtimeName/runtimeVersion")
    auth = ("params", "functionAppConfig", "deployment", "storage", "authentication")
    if site.get(*auth, "type") != "'UserAssignedIdentity'" or \
            site.get(*auth, "userAssignedIdentityResourceId") != "identityId":
        problems.append("the deployment storage must be reached with the user-assigned identity")
    for knob in ("instanceMemoryMB", "maximumInstanceCount"):
        if site.get(*config, "scaleAndConcurrency", knob) != knob:
            problems.append(f"functionAppConfig.scaleAndConcurrency.{knob} is not set")
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    if 'requires-python = ">=3.11"' not in pyproject:
        problems.append("pyproject.toml no longer targets Python 3.11")
    azd = yaml.safe_load(t.files["azure.yaml"])
    services = azd.get("services", {})
    service_name = site_file.param_default("serviceName")
    service = services.get(service_name) or {}
    if (service.get("host"), service.get("language"), service.get("project")) != \
            ("function", "python", "."):
        problems.append(f"azure.yaml must deploy service {service_name} (the azd-service-name "
                        "tag) as a python function from the repo root")
    return problems


def check_azureml(t: Templates) -> list[str]:
    access, main, problems = t.bicep("app/azureml-access.bicep"), t.bicep("main.bicep"), []
    (store,) = access.of_type("Microsoft.MachineLearningServices/workspaces/datastores@")
    want = {"name": "inferenceDatastoreName", "parent": "workspace"}
    props = {"datastoreType": "'AzureBlob'", "accountName": "inferenceStorageAccountName",
             "containerName": "inferenceContainerName"}
    for key, value in want.items():
        if store.get(key) != value:
            problems.append(f"datastore {key} is {store.get(key)}, should be {value}")
    for key, value in props.items():
        if store.get("properties", key) != value:
            problems.append(f"datastore {key} is {store.get('properties', key)}, not {value}")
    if store.get("properties", "credentials", "credentialsType") != "'None'":
        problems.append("the datastore must be identity-based (credentialsType None)")
    (topic,) = access.of_type("Microsoft.EventGrid/systemTopics@")
    if topic.get("properties", "topicType") != "'Microsoft.MachineLearningServices.Workspaces'" \
            or topic.get("properties", "source") != "workspace.id":
        problems.append("the workspace system topic must have the workspace as its source")
    for param in ("existingWorkspaceName", "existingWorkspaceResourceGroup"):
        if main.param_default(param) != "":
            problems.append(f"main.bicep needs an optional {param} parameter")
    if main.decl("workspace").condition != "createWorkspace":
        problems.append("the new workspace must be skipped when an existing one is named")
    if main.vars.get("createWorkspace") != "empty(existingWorkspaceName)":
        problems.append("createWorkspace must follow existingWorkspaceName")
    return problems


CHECKS = {
    "settings": check_settings,
    "optional": check_optional,
    "stray settings": check_no_stray_settings,
    "binding expressions": check_bindings_resolve,
    "setting values": check_setting_values,
    "wiring": check_wiring,
    "roles": check_roles,
    "subscriptions": check_subscriptions,
    "parameter chain": check_parameter_chain,
    "parameters file": check_parameters_file,
    "hooks": check_hooks,
    "security": check_security,
    "hosting": check_hosting,
    "azureml": check_azureml,
}


@pytest.mark.parametrize("check", CHECKS, ids=list(CHECKS))
def test_templates_pass(templates, check):
    assert CHECKS[check](templates) == []


# local.settings.example.json values the Functions host reads locally, not the app.
HOST_ONLY_LOCAL = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags",
                   "PYTHON_ENABLE_INIT_INDEXING"}


def test_the_settings_collector_finds_every_setting_of_the_local_example():
    """Guards the collector: local.settings.example.json lists the app's settings, and the
    collector must find each of them in the code."""
    example = set(json.loads((ROOT / "local.settings.example.json").read_text())["Values"])
    assert example - HOST_ONLY_LOCAL <= code_settings()


def test_the_app_has_the_event_grid_fed_functions():
    assert triggers("eventGridTrigger") == {"on_model_registered", "on_azureml_run_event"}
    assert triggers("blobTrigger", source="EventGrid") == {"ingest_inference_blob"}


# ------------------------------------------------------------------------------------------
# Each check fails on a broken copy
# ------------------------------------------------------------------------------------------

MAIN, FA, RBAC = "infra/main.bicep", "infra/app/function-app.bicep", "infra/app/rbac.bicep"
SUBS, AML = "infra/subscriptions/main.bicep", "infra/subscriptions/azureml.bicep"
BREAKS = [
    ("settings", MAIN, "      INFERENCE_DATASTORE: inferenceDatastoreName\n", ""),
    ("settings", FA, "AzureWebJobsStorage__credential: 'managedidentity'",
     "AzureWebJobsStorage__credential: 'connectionstring'"),
    ("settings", FA, "  INFERENCE_STORAGE__queueServiceUri: "
     "inferenceStorage.properties.primaryEndpoints.queue\n", ""),
    ("settings", FA, "AzureWebJobsStorage__tableServiceUri: hostStorage.",
     "AzureWebJobsStorage__tableServiceUri: inferenceStorage."),
    ("stray settings", MAIN, "      EVENT_SINK: 'none'", "      EVENT_SINK: 'none'\n"
     "      MONITOR_SCHEDULLE: '04:00'"),
    ("binding expressions", MAIN, "      INFERENCE_CONTAINER: inferenceContainerName\n", ""),
    ("setting values", MAIN, "AUTOPILOT_BACKEND: 'azureml'", "AUTOPILOT_BACKEND: 'local'"),
    ("setting values", MAIN, "param inferenceContainerName string = 'inference'",
     "param inferenceContainerName string = 'uploads'"),
    ("setting values", MAIN, "param retrainQueueName string = 'retrain-requests'",
     "param retrainQueueName string = 'retrain'"),
    ("setting values", MAIN, "  '3.4'\n  '3.5'\n])\nparam monitorSparkRuntime",
     "  '3.3'\n  '3.4'\n  '3.5'\n])\nparam monitorSparkRuntime"),
    ("wiring", MAIN, "    inferenceStorageAccountName: inferenceStorage.outputs.name\n"
     "    deploymentStorageContainerName",
     "    inferenceStorageAccountName: hostStorage.outputs.name\n"
     "    deploymentStorageContainerName"),
    ("roles", RBAC, "storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'",
     "storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb89'"),
    ("roles", RBAC, "guid(hostStorage.id, identityPrincipalId, "
     "roleIds.storageTableDataContributor)\n  scope: hostStorage",
     "guid(hostStorage.id, identityPrincipalId, "
     "roleIds.storageTableDataContributor)\n  scope: inferenceStorage"),
    ("roles", "infra/app/azureml-access.bicep", "    principalId: identityPrincipalId",
     "    principalId: workspace.identity.principalId"),
    ("subscriptions", AML, "functionName=on_model_registered", "functionName=on_model_registerd"),
    ("subscriptions", AML, "'has failed due to one or more features violating metric thresholds'",
     "'has failed due to one or more features violating thresholds'"),
    ("subscriptions", AML, "          key: 'data.RunTags.azureml_modelmonitor_threshold_breached'",
     "          key: 'data.RunTags.threshold_breached'"),
    ("subscriptions", AML, "        'Microsoft.MachineLearningServices.ModelRegistered'\n",
     "        'Microsoft.MachineLearningServices.ModelRegistered'\n"
     "        'Microsoft.MachineLearningServices.ModelDeployed'\n"),
    ("subscriptions", SUBS, "containers/${inferenceContainerName}/'", "containers/inference/'"),
    ("subscriptions", SUBS, "functionName=Host.Functions.ingest_inference_blob&code="
     "${uriComponent(blobsExtensionKey)}", "functionName=Host.Functions.ingest_inference_blob"
     "&code=${uriComponent(eventGridExtensionKey)}"),
    ("subscriptions", SUBS, "    deadLetterWithResourceIdentity: deadLetter\n", ""),
    ("subscriptions", SUBS, "  name: inferenceSystemTopicName\n",
     "  name: azuremlSystemTopicName\n"),
    ("parameter chain", MAIN, "output INFERENCE_CONTAINER_NAME string = inferenceContainerName",
     "output INFERENCE_CONTAINER_NAME string = 'inference'"),
    ("parameter chain", "scripts/postdeploy.sh",
     'inferenceSystemTopicName="$INFERENCE_SYSTEM_TOPIC_NAME"',
     'inferenceSystemTopicName="$AZUREML_SYSTEM_TOPIC_NAME"'),
    ("parameter chain", MAIN, "    { name: deadLetterContainerName }\n", ""),
    ("parameters file", "infra/main.parameters.json", '"principalId"', '"principalID"'),
    ("wiring", "infra/app/events.bicep", "    type: 'UserAssigned'\n",
     "    type: 'SystemAssigned'\n"),
    ("hooks", "scripts/postdeploy.sh",
     '    inferenceContainerName="$INFERENCE_CONTAINER_NAME" \\\n', ""),
    ("hooks", "scripts/postdeploy.ps1",
     "        retrainExperiment=$env:RETRAIN_EXPERIMENT `\n", ""),
    ("hooks", "scripts/postdeploy.sh", '    "blobsExtensionKey": { "value": "$blobs_key" }',
     '    "blobKey": { "value": "$blobs_key" }'),
    ("security", MAIN, "allowSharedKeyAccess: false", "allowSharedKeyAccess: true", 2),
    ("security", MAIN, "    disableLocalAuth: true\n", "    disableLocalAuth: false\n"),
    ("security", "infra/app/events.bicep", "disableLocalAuth: true", "disableLocalAuth: false"),
    ("security", "infra/app/events.bicep", "inputSchema: 'CloudEventSchemaV1_0'",
     "inputSchema: 'EventGridSchema'"),
    ("hosting", MAIN, "name: 'FC1'", "name: 'Y1'"),
    ("hosting", MAIN, "runtimeVersion: '3.11'", "runtimeVersion: '3.12'"),
    ("hosting", "azure.yaml", "  autopilot:\n", "  api:\n"),
    ("azureml", "infra/app/azureml-access.bicep", "credentialsType: 'None'",
     "credentialsType: 'AccountKey'"),
    ("azureml", MAIN, "module workspace 'app/azureml-workspace.bicep' = if (createWorkspace) {",
     "module workspace 'app/azureml-workspace.bicep' = {"),
]


@pytest.mark.parametrize("check,path,old,new,count", [b if len(b) == 5 else (*b, 1)
                                                      for b in BREAKS],
                         ids=[f"{b[0]}:{i}" for i, b in enumerate(BREAKS)])
def test_each_check_catches_a_break(templates, check, path, old, new, count):
    assert CHECKS[check](templates) == [], "the unbroken templates must pass first"
    assert CHECKS[check](templates.edited(path, old, new, count)) != []


def test_the_optional_check_catches_undocumented_and_stale_entries(templates):
    assert check_optional(templates, {**OPTIONAL, "RETRAIN_QUEUE_DEPTH": "x"}) != []
    undocumented = templates.edited("README.md", "`MONITOR_LOOKBACK`", "MONITOR-LOOKBACK")
    assert check_optional(undocumented) != []
    assert check_settings(templates, {k: v for k, v in OPTIONAL.items()
                                      if k != "MONITOR_LOOKBACK"}) != []


def test_the_role_check_catches_an_unexplained_assignment(templates):
    fewer = [n for n in REQUIRED_ROLES if n.principal != "userPrincipalId"]
    assert check_roles(templates, fewer) != []


def test_the_settings_collector_follows_helpers_constants_and_environ():
    source = textwrap.dedent("""
        import os
        NAME = "FROM_CONSTANT"
        def _x(env, name, default=None): ...
        def load(env):
            a = _x(env, "FROM_HELPER")
            b = env.get("FROM_GET")
            c = _x(env, NAME)
            d = os.environ["FROM_ENVIRON"]
            e = os.getenv("FROM_GETENV")
            f = env.get(f"{NAME}__dynamic")
    """)
    assert settings_read(source, {"env"}) == {"FROM_CONSTANT", "FROM_HELPER", "FROM_GET",
                                             "FROM_ENVIRON", "FROM_GETENV"}


def test_the_bicep_reader_handles_strings_comments_and_nesting():
    b = Bicep.parse("x", textwrap.dedent("""
        // a comment with { braces
        param a string = 'it\\'s'
        var o = {
          k1: 'https://${host}/x?y=${f('}')}' // trailing comment
          'k 2': { inner: [1, 2] }
          k3: union(p, { q: 1 })
        }
        resource r 'T/x@1' existing = {
          name: a /* block { */
        }
        module m 'path.bicep' = if (!empty(a)) {
          params: { z: o.k1 }
        }
    """))
    assert b.param_default("a") == "it's"
    assert entries(b.vars["o"]) == {"k1": "'https://${host}/x?y=${f('}')}'",
                                    "k 2": "{ inner: [1, 2] }", "k3": "union(p, { q: 1 })"}
    assert b.decl("r").existing and b.decl("r").get("name") == "a"
    assert b.decl("m").condition == "!empty(a)" and b.decl("m").get("params", "z") == "o.k1"


# ------------------------------------------------------------------------------------------
# The hook, run with stand-ins for az, azd and curl
# ------------------------------------------------------------------------------------------

FAKE_AZ = """#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$1 $2" in
  "account show") exit 0 ;;
  "functionapp keys")
    for arg in "$@"; do
      case "$arg" in systemKeys.*) echo "key-of-${arg#systemKeys.}" ;; esac
    done ;;
  "deployment group")
    prev=""
    for arg in "$@"; do
      if [ "$prev" = "--parameters" ] && [ "${arg#@}" != "$arg" ]; then
        cat "${arg#@}" > "$FAKE_PARAMS"
      fi
      prev="$arg"
    done ;;
esac
"""


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX sh")
def test_the_posix_hook_deploys_the_subscriptions_with_the_keys(tmp_path, templates):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, body in {"az": FAKE_AZ, "azd": "#!/bin/sh\nexit 0\n",
                       "curl": "#!/bin/sh\nexit 0\n"}.items():
        (bin_dir / tool).write_text(body)
        (bin_dir / tool).chmod(0o755)
    main = templates.bicep("main.bicep")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_LOG": str(tmp_path / "log"),
           "FAKE_PARAMS": str(tmp_path / "params.json"), "AZURE_SUBSCRIPTION_ID": "sub"}
    env.update({name: f"value-of-{name}" for name in main.outputs})
    result = subprocess.run(["sh", "scripts/postdeploy.sh"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    params = json.loads((tmp_path / "params.json").read_text())["parameters"]
    assert params == {"eventGridExtensionKey": {"value": "key-of-eventgrid_extension"},
                      "blobsExtensionKey": {"value": "key-of-blobs_extension"}}
    deploy = [line for line in (tmp_path / "log").read_text().splitlines()
              if line.startswith("deployment group create")]
    assert len(deploy) == 1
    assert "--template-file infra/subscriptions/main.bicep" in deploy[0]
    assert "key-of-" not in deploy[0], "the keys must not be on the command line"
    for param, source in hook_parameters(templates.files["scripts/postdeploy.sh"]).items():
        assert f"{param}={env.get(source, 'true')}" in deploy[0]


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX sh")
def test_the_posix_hook_stops_when_an_output_is_missing(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "AZURE_FUNCTION_APP_NAME": "app"}
    if not all(shutil.which(t) for t in ("az", "azd", "curl")):
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in ("az", "azd", "curl"):
            (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
            (bin_dir / tool).chmod(0o755)
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
    result = subprocess.run(["sh", "scripts/postdeploy.sh"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "is not set in the azd environment" in result.stderr


# ------------------------------------------------------------------------------------------
# .funcignore: what the deployment package keeps
# ------------------------------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i)
            out.append(fnmatch.translate(pattern[i:end + 1])[4:-3] if end > 0 else r"\[")
            i = end + 1 if end > 0 else i + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def ignore_rules(text: str) -> list[tuple[bool, bool, bool, re.Pattern]]:
    """(negated, directory only, anchored, regex) per gitignore line."""
    rules = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:] if negated else line
        directory_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        rules.append((negated, directory_only, anchored, _glob_regex(line.lstrip("/"))))
    return rules


def is_ignored(path: str, text: str, is_dir: bool = False) -> bool:
    """Gitignore semantics: the last matching rule wins, and nothing inside an ignored directory
    can be brought back."""
    rules = ignore_rules(text)
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        sub, sub_is_dir = "/".join(parts[:depth]), depth < len(parts) or is_dir
        ignored = False
        for negated, directory_only, anchored, regex in rules:
            if directory_only and not sub_is_dir:
                continue
            target = sub if anchored else parts[depth - 1]
            if regex.fullmatch(target):
                ignored = not negated
        if ignored:
            return True
    return False


def test_the_ignore_matcher_follows_gitignore_rules():
    rules = "*.md\n!keep.md\nbuild/\n/top\ndocs/**/*.txt\n.venv*/\n"
    assert is_ignored("a/b/README.md", rules)
    assert not is_ignored("keep.md", rules)
    assert is_ignored("x/build/out.py", rules) and not is_ignored("build", rules)
    assert is_ignored("top", rules) and not is_ignored("sub/top", rules)
    assert is_ignored("docs/a/b/c.txt", rules) and not is_ignored("docs/c.py", rules)
    assert is_ignored(".venv313/bin/python", rules) and not is_ignored("venv.py", rules)


RUNTIME_FILES = ["function_app.py", "host.json", "requirements.txt", ".amlignore"]
RUNTIME_DIRS = ["functions", "core", "jobs"]
NOT_DEPLOYED = ["tests/unit/test_settings.py", "devtools/invoke.py", ".venv/bin/python",
                ".venv313/lib/x.py", "benchmarks/run_drift.sh", "infra/main.bicep",
                "scripts/postdeploy.sh", "local.settings.json", "node_modules/azurite/x.js",
                ".azure/dev/.env", ".azurite/__blobstorage__/x", ".local-workspace/models/x",
                ".demo/drift-report.html", "README.md", "core/__pycache__/settings.cpython-311.pyc",
                ".git", ".gitignore", "azure.yaml", "package.json", "pyproject.toml",
                "requirements.in", ".venv-lock/bin/pip-compile"]


def runtime_paths() -> list[str]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    return RUNTIME_FILES + [p for p in tracked if p.split("/")[0] in RUNTIME_DIRS
                            and not p.endswith(".md")]


def check_funcignore(text: str) -> list[str]:
    problems = [f"{p} is needed at runtime but excluded" for p in runtime_paths()
                if is_ignored(p, text)]
    problems += [f"{p} must not be deployed" for p in NOT_DEPLOYED if not is_ignored(p, text)]
    return problems


def test_funcignore_keeps_the_runtime_files_and_drops_the_rest(templates):
    assert "jobs/retrain.yml" in runtime_paths() and "core/settings.py" in runtime_paths()
    assert check_funcignore(templates.files[".funcignore"]) == []


@pytest.mark.parametrize("extra", ["core/", "jobs/", "*.yml", ".aml*", "host.json"])
def test_the_funcignore_check_catches_an_excluded_runtime_file(templates, extra):
    assert check_funcignore(templates.files[".funcignore"] + f"\n{extra}\n") != []


def test_the_funcignore_check_catches_a_deployed_dev_folder(templates):
    assert check_funcignore(templates.files[".funcignore"].replace("\ntests/\n", "\n")) != []
