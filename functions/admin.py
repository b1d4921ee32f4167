"""HTTP admin endpoints for operators (function-key auth, except health)."""

from __future__ import annotations

import azure.functions as func

from core.bootstrap import services
from functions.http import handles_errors, json_body, json_response

bp = func.Blueprint()
KEY = func.AuthLevel.FUNCTION


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@handles_errors
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous: up or down per dependency, nothing else (503 names the failing ones)."""
    body = services().health.health()
    return json_response(body, 200 if body["status"] == "up" else 503)


@bp.function_name("health_details")
@bp.route(route="health/details", methods=["GET"], auth_level=KEY)
@handles_errors
def health_details(req: func.HttpRequest) -> func.HttpResponse:
    body = services().health.details()
    return json_response(body, 200 if body["status"] == "up" else 503)


@bp.function_name("list_ingestions")
@bp.route(route="ingestions", methods=["GET"], auth_level=KEY)
@handles_errors
def list_ingestions(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.list_ingestions(
        model=req.params.get("model"), status=req.params.get("status")
    ))


@bp.function_name("list_model_ingestions")
@bp.route(route="models/{model}/ingestions", methods=["GET"], auth_level=KEY)
@handles_errors
def list_model_ingestions(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.list_ingestions(
        model=req.route_params["model"], status=req.params.get("status")
    ))


@bp.function_name("get_ingestion")
@bp.route(route="models/{model}/ingestions/{id}", methods=["GET"], auth_level=KEY)
@handles_errors
def get_ingestion(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(
        services().admin.get_ingestion(req.route_params["model"], req.route_params["id"])
    )


@bp.function_name("replay_ingestion")
@bp.route(route="models/{model}/ingestions/{id}/replay", methods=["POST"], auth_level=KEY)
@handles_errors
def replay_ingestion(req: func.HttpRequest) -> func.HttpResponse:
    result = services().admin.replay_ingestion(req.route_params["model"], req.route_params["id"])
    status = {"registered": 200, "rejected": 422, "duplicate": 200, "in_progress": 409,
              "missing": 404}[result["outcome"]]
    return json_response(result, status)


@bp.function_name("latest_drift")
@bp.route(route="models/{model}/drift", methods=["GET"], auth_level=KEY)
@handles_errors
def latest_drift(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.latest_drift(req.route_params["model"]))


@bp.function_name("drift_report")
@bp.route(route="models/{model}/drift/report", methods=["GET"], auth_level=KEY)
@handles_errors
def drift_report(req: func.HttpRequest) -> func.HttpResponse:
    html = services().admin.drift_report(req.route_params["model"], req.params.get("ingestion"))
    return func.HttpResponse(html, mimetype="text/html", charset="utf-8")


@bp.function_name("check_drift")
@bp.route(route="models/{model}/drift/check", methods=["POST"], auth_level=KEY)
@handles_errors
def check_drift(req: func.HttpRequest) -> func.HttpResponse:
    body, html = services().admin.check_drift(req.route_params["model"], json_body(req))
    if req.params.get("format") == "html":
        return func.HttpResponse(html, mimetype="text/html", charset="utf-8")
    return json_response(body)
