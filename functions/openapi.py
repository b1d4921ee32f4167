"""The OpenAPI 3.1 document of the admin API, built from the route table every HTTP function
is registered from (`functions.http.ROUTES`), with JSON schemas (JSON Schema 2020-12, as
OpenAPI 3.1 takes them) for every response. Served at GET /api/openapi.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import azure.functions as func

from functions.http import ROUTES, Route

TITLE = "Monitor Autopilot for Azure ML: admin API"
VERSION = "1.0.0"


def _nullable(kind: str | list[str]) -> dict:
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return {"type": [*kinds, "null"]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: Mapping[str, Any], optional: Mapping[str, Any] | None = None, *,
            closed: bool = False) -> dict:
    """An object with these properties, the first group required. `closed`: no others (for
    envelopes this API defines itself; records that grow keep their schema open)."""
    schema: dict[str, Any] = {"type": "object",
                              "properties": {**required, **(optional or {})},
                              "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


STR, INT, NUM, BOOL = ({"type": "string"}, {"type": "integer"}, {"type": "number"},
                       {"type": "boolean"})
STRS = {"type": "array", "items": STR}
OBJ = {"type": "object"}

SCHEMAS: dict[str, dict] = {
    "Error": _object({"error": _object({"code": STR, "message": STR}, closed=True)},
                     closed=True),
    "Health": _object({
        "status": {"enum": ["up", "down"]},
        "dependencies": {"type": "object", "additionalProperties": {"enum": ["up", "down"]}},
    }, {"failing": STRS, "degraded": {
        **STRS, "description": "optional dependencies that are down (telemetry, the "
        "autopilot's own events): the loop works without them"}}, closed=True),
    "HealthDetails": _object({
        "status": {"enum": ["up", "down"]},
        "dependencies": {"type": "object", "additionalProperties": {"enum": ["up", "down"]}},
        "errors": {"type": "object", "additionalProperties": STR,
                   "description": "dependency -> '<error type>: <message>' for each one down"},
        "elapsed_ms": NUM, "backend": {"enum": ["local", "azureml"]},
        "versions": {"type": "object", "additionalProperties": STR},
        "settings": {"type": "object", "description": "the settings, connections described "
                     "by form, account and identity (never a key)"},
    }, {"degraded": STRS}, closed=True),
    "OpenApiDocument": _object({"openapi": STR, "info": OBJ, "paths": OBJ}),
    "Blob": _object({"container": STR, "name": STR, "etag": _nullable("string"),
                     "size": _nullable("integer"), "url": _nullable("string")}, closed=True),
    "Rejection": _object({"code": STR, "message": STR},
                         {"line": _nullable("integer"), "column": _nullable("string"),
                          "hint": _nullable("string")}),
    "Breach": _object({"signal": STR, "feature": STR, "metric": STR, "value": NUM,
                       "threshold": NUM}),
    "DriftSummary": _object({
        "breached": BOOL, "signals": {"type": "object", "additionalProperties": BOOL},
        "breaches": {"type": "array", "items": _ref("Breach")}, "breach_count": INT,
        "rows_reference": INT, "rows_production": INT, "reference": STR, "production": STR,
        "notes": STRS, "result": {"type": "string", "description": "the full result's key"},
    }, {"ingestion": STR}),
    "DriftResult": _object({
        "format_version": INT, "breached": BOOL, "rows_reference": INT, "rows_production": INT,
        "binning": STR, "value_precision": STR, "sampling": _nullable("object"),
        "missing_columns": STRS, "extra_columns": STRS, "excluded": OBJ, "notes": STRS,
        "signals": {"type": "array", "items": _object({
            "name": STR, "breached": BOOL, "rows_reference": INT, "rows_production": INT,
            "notes": STRS, "features": {"type": "array", "items": OBJ}})},
    }),
    "DriftCheck": _object({"summary": _ref("DriftSummary"), "result": _ref("DriftResult")},
                          closed=True),
    "DataVersionRef": _object({}, {"name": STR, "version": {"type": ["string", "integer"]}},
                              closed=True),
    "DriftCheckRequest": _object({}, {"production": _ref("DataVersionRef"),
                                      "baseline": _ref("DataVersionRef")}, closed=True),
    "Ingestion": _object({
        "model": STR, "id": STR,
        "status": {"enum": ["processing", "registered", "rejected", "failed"]},
        "blob": _ref("Blob"), "layout": STR, "partition": _nullable("string"),
        "rows": _nullable("integer"), "columns": STRS, "extra_columns": STRS,
        "data_asset": {"oneOf": [{"type": "null"},
                                 _object({"name": STR, "version": STR}, closed=True)]},
        "rejection": {"oneOf": [{"type": "null"}, _ref("Rejection")]},
        "error": _nullable("string"), "quarantine_record": _nullable("string"),
        "replay_of": _nullable("string"), "attempts": INT, "created_at": NUM,
        "updated_at": NUM, "drift": {"oneOf": [{"type": "null"}, OBJ]},
    }, {"labels": {"oneOf": [{"type": "null"}, _ref("JoinSummary")]},
        "performance": {"oneOf": [{"type": "null"}, _ref("PerformanceRecord")]}}),
    "JoinSummary": _object({}, {
        "counts": {"type": "object", "additionalProperties": INT,
                   "description": "labels, empty, joined, waiting, duplicates, conflicting, "
                                  "inputs, duplicate_inputs, outputs, completed, expired, "
                                  "too_large (zero counts left out)"},
        "labelled_data": STR, "labelled_rows": INT, "error": STR}),
    "PerformanceRecord": _object({}, {
        "labelled_data": STR, "model_version": STR, "task": STR, "rows": INT,
        "metrics": {"type": "object", "additionalProperties": _nullable("number")},
        "logged_metrics": {"type": "object", "additionalProperties": _nullable("number")},
        "thresholds": {"type": "object", "additionalProperties": NUM},
        "breaches": {"type": "array", "items": _object(
            {"metric": STR, "value": NUM, "threshold": NUM})},
        "breached": BOOL, "result": _nullable("string"), "evaluated_at": NUM,
        "target": STR, "logged_prediction_column": STR, "notes": STRS, "ingestion": STR,
        "skipped": STR, "error": STR}),
    "ModelPerformance": _object({
        "model": STR, "latest": {"oneOf": [{"type": "null"}, _ref("PerformanceRecord")]},
        "count": INT, "history": {"type": "array", "items": _ref("PerformanceRecord")},
        "ground_truth": _object({"waiting": _nullable("integer"),
                                 "files": {"type": "array", "items": OBJ}}),
    }, closed=True),
    "TrendsBackfill": _object({
        "model": STR, "backfilled_at": NUM,
        "batches": {**INT, "description": "registered batches read from the ledger"},
        "points": {**INT, "description": "trend points recorded (early checks and "
                   "performance records)"},
        "missing_results": {**INT, "description": "batches whose stored result is gone"},
        "complete": {**BOOL, "description": "false when only the newest batches were read"},
    }, closed=True),
    "IngestionList": _object({"model": _nullable("string"), "status": _nullable("string"),
                              "count": INT,
                              "ingestions": {"type": "array", "items": _ref("Ingestion")}},
                             closed=True),
    "IngestOutcome": _object({
        "outcome": {"enum": ["registered", "rejected", "duplicate", "in_progress", "missing"]},
        "message": STR, "ingestion": {"oneOf": [{"type": "null"}, _ref("Ingestion")]},
    }, closed=True),
    "IngestOutcomeOrError": {"anyOf": [_ref("IngestOutcome"), _ref("Error")]},
    "Monitor": _object({
        "model": STR, "monitor": STR, "status": STR, "reason": STR,
        "checked_at": _nullable("number"), "changed_at": _nullable("number"),
        "last_trigger": _nullable("string"), "last_run": _nullable("object"),
        "history": {"type": "array", "items": OBJ}, "exists": BOOL,
    }, {"model_version": _nullable("string"), "enabled": BOOL,
        "reference_data": _nullable("string"), "production_data": _nullable("string"),
        "signals": STRS, "schedule": _nullable("string")}),
    "MonitorList": _object({"count": INT, "backend": {"enum": ["local", "azureml"]},
                            "monitors": {"type": "array", "items": _ref("Monitor")}},
                           {"refused_events": {"type": "array", "items": OBJ}}, closed=True),
    "EnsureOutcome": _object({"model": STR, "action": STR, "status": STR,
                              "monitor": _nullable("string"),
                              "model_version": _nullable("string"), "reason": STR},
                             {"changes": {"type": "array"},
                              "reference_data": _nullable("string"),
                              "production_data": _nullable("string")}),
    "EnsureResult": _object({"outcome": _ref("EnsureOutcome"), "monitor": _ref("Monitor")},
                            closed=True),
    "MonitorRunResult": _object({
        "completed": BOOL, "monitor": STR, "triggered_job": _nullable("string"),
        "run": _object({"run_id": STR, "monitor": STR, "model": STR, "trigger": STR,
                        "completed": BOOL},
                       {"breached": _nullable("boolean"), "job": _nullable("string"),
                        "signals": OBJ, "breaches": {"type": "array"}}),
    }, closed=True),
    "Gate": _object({}, {
        "open_request": _nullable("string"), "open_since": _nullable("number"),
        "last_request_at": _nullable("number"), "last_finished": _nullable("string"),
        "last_alert_at": _nullable("number"), "consecutive": INT, "suppressed": INT,
        "alert_key": _nullable("string")}),
    "RetrainRequestBody": _object({}, {"reason": STR, "force": BOOL}, closed=True),
    "RetrainDecision": _object({
        "decision": {"enum": ["requested", "suppressed", "duplicate", "unmapped", "ignored"]},
        "model": _nullable("string"), "reason": STR, "request_id": _nullable("string"),
        "alert_key": _nullable("string"), "code": _nullable("string"), "gate": _ref("Gate"),
    }, closed=True),
    "RetrainRequest": _object({
        "request_id": STR, "model": STR,
        "status": {"enum": ["pending", "queued", "running", "retrying", "submitted",
                            "registered", "rejected", "failed", "completed"]},
        "created_at": NUM, "updated_at": NUM, "reason": STR, "trigger": STR, "evidence": OBJ,
    }, {"attempts": INT, "job": _nullable("string"), "error": _nullable("string"),
        "decision": _nullable("string"), "champion_scores": OBJ, "challenger_scores": OBJ}),
    "RetrainHistory": _object({"model": STR, "count": INT, "gate": _ref("Gate"),
                               "retraining": {"type": "array",
                                              "items": _ref("RetrainRequest")}}, closed=True),
    "Alert": _object({"alert_key": STR, "received_at": NUM,
                      "status": {"enum": ["received", "requested", "suppressed", "ignored",
                                          "unmapped"]},
                      "reason": STR},
                     {"code": _nullable("string"), "request_id": _nullable("string"),
                      "evidence": OBJ}),
    "AlertList": _object({"model": STR, "count": INT,
                          "alerts": {"type": "array", "items": _ref("Alert")}}, closed=True),
    "PoisonMessage": _object({"message_id": STR, "inserted_at": _nullable("string"),
                              "dequeue_count": INT, "body": {"type": ["object", "string"]}}),
    "PoisonList": _object({"queue": STR, "count": INT, "total": INT,
                           "note": _nullable("string"),
                           "messages": {"type": "array", "items": _ref("PoisonMessage")}},
                          closed=True),
    "Requeued": _object({"requeued": STR, "new_message_id": STR, "queue": STR}),
}


def _operation(route: Route) -> dict:
    parameters: list[dict] = [
        {"name": name, "in": "path", "required": True, "schema": STR}
        for name in _path_params(route.route)
    ]
    for q in route.query:
        schema: dict = {"type": "string"}
        if q.enum:
            schema["enum"] = list(q.enum)
        parameters.append({"name": q.name, "in": "query", "required": False,
                           "description": q.description, "schema": schema})
    responses = {}
    for status, reply in sorted(route.replies.items()):
        content = ({reply.media: {"schema": _ref(reply.schema)}} if reply.schema
                   else {reply.media: {"schema": STR}})
        if reply.or_html:
            content["text/html"] = {"schema": STR}
        responses[str(status)] = {"description": reply.description, "content": content}
    operation: dict[str, Any] = {"operationId": route.function, "summary": route.summary,
                                 "tags": [route.tag], "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if route.body:
        operation["requestBody"] = {"required": False, "content": {
            "application/json": {"schema": _ref(route.body)}}}
    if route.auth == func.AuthLevel.ANONYMOUS:
        operation["security"] = []
    return operation


def _path_params(route: str) -> list[str]:
    import re

    return [m.split(":")[0].rstrip("?") for m in re.findall(r"\{([^}]+)\}", route)]


def document(routes: Mapping[str, Route] | None = None) -> dict:
    """The OpenAPI document for `routes` (default: every registered HTTP function)."""
    routes = ROUTES if routes is None else routes
    paths: dict[str, dict] = {}
    for route in sorted(routes.values(), key=lambda r: (r.route, r.method)):
        paths.setdefault(f"/{route.route}", {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION,
                 "description": "Operators' endpoints of Monitor Autopilot (README 'Admin HTTP "
                                "endpoints'). Function-key auth except health."},
        "servers": [{"url": "/api"}],
        "security": [{"functionKeyHeader": []}, {"functionKeyQuery": []}],
        "tags": [{"name": t} for t in sorted({r.tag for r in routes.values()})],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "functionKeyHeader": {"type": "apiKey", "in": "header",
                                      "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }
