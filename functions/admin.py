"""HTTP admin endpoints for operators (function-key auth, except health)."""

from __future__ import annotations

import azure.functions as func

from core.bootstrap import services
from functions.http import Param, Reply, api_route, json_body, json_response

bp = func.Blueprint()
ANONYMOUS = func.AuthLevel.ANONYMOUS
STATUS = Param("status", "only ingestions in this state",
               ("processing", "registered", "rejected", "failed"))


@api_route(bp, "health", "health", "GET", tag="health", auth=ANONYMOUS,
           summary="Up or down per dependency, nothing else",
           replies={200: Reply("every dependency is up", "Health"),
                    503: Reply("a dependency is down; `failing` names it", "Health")})
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous: up or down per dependency, nothing else (503 names the failing ones)."""
    body = services().health.health()
    return json_response(body, 200 if body["status"] == "up" else 503)


@api_route(bp, "health_details", "health/details", "GET", tag="health",
           summary="The same probes with each one's error, the backend, library versions and "
                   "the settings (no secrets)",
           replies={200: Reply("every dependency is up", "HealthDetails"),
                    503: Reply("a dependency is down; `errors` says why", "HealthDetails")})
def health_details(req: func.HttpRequest) -> func.HttpResponse:
    body = services().health.details()
    return json_response(body, 200 if body["status"] == "up" else 503)


@api_route(bp, "openapi", "openapi.json", "GET", tag="health",
           summary="This OpenAPI 3.1 document of the admin API",
           replies={200: Reply("the document", "OpenApiDocument")})
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    from functions.openapi import document

    return json_response(document())


@api_route(bp, "list_ingestions", "ingestions", "GET", tag="ingestion",
           summary="Ingestions across models, newest first (status=rejected: the quarantine)",
           query=(STATUS, Param("model", "only this model's ingestions")),
           replies={200: Reply("the ingestions", "IngestionList")})
def list_ingestions(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.list_ingestions(
        model=req.params.get("model"), status=req.params.get("status")
    ))


@api_route(bp, "list_model_ingestions", "models/{model}/ingestions", "GET", tag="ingestion",
           summary="One model's ingestions, newest first, with the reason of each rejection",
           query=(STATUS,), replies={200: Reply("the ingestions", "IngestionList")})
def list_model_ingestions(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.list_ingestions(
        model=req.route_params["model"], status=req.params.get("status")
    ))


@api_route(bp, "get_ingestion", "models/{model}/ingestions/{id}", "GET", tag="ingestion",
           summary="One ingestion", replies={200: Reply("the ingestion", "Ingestion")})
def get_ingestion(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(
        services().admin.get_ingestion(req.route_params["model"], req.route_params["id"])
    )


@api_route(bp, "replay_ingestion", "models/{model}/ingestions/{id}/replay", "POST",
           tag="ingestion", summary="Ingest the blob again as it is now",
           replies={200: Reply("registered (or already registered)", "IngestOutcome"),
                    404: Reply("no such ingestion, or its blob no longer exists",
                               "IngestOutcomeOrError"),
                    409: Reply("another instance is ingesting it now", "IngestOutcomeOrError"),
                    422: Reply("rejected again; the ingestion says why",
                               "IngestOutcomeOrError")})
def replay_ingestion(req: func.HttpRequest) -> func.HttpResponse:
    result = services().admin.replay_ingestion(req.route_params["model"], req.route_params["id"])
    status = {"registered": 200, "rejected": 422, "duplicate": 200, "in_progress": 409,
              "missing": 404}[result["outcome"]]
    return json_response(result, status)


@api_route(bp, "latest_drift", "models/{model}/drift", "GET", tag="drift",
           summary="The newest early drift check: its summary and the full typed result",
           replies={200: Reply("the check", "DriftCheck")})
def latest_drift(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.latest_drift(req.route_params["model"]))


@api_route(bp, "drift_report", "models/{model}/drift/report", "GET", tag="drift",
           summary="The HTML drift report of the latest batch, or of one ingestion",
           query=(Param("ingestion", "the ingestion whose check to show (default: latest)"),),
           replies={200: Reply("a self-contained HTML page", media="text/html")})
def drift_report(req: func.HttpRequest) -> func.HttpResponse:
    html = services().admin.drift_report(req.route_params["model"], req.params.get("ingestion"))
    return func.HttpResponse(html, mimetype="text/html", charset="utf-8")


@api_route(bp, "check_drift", "models/{model}/drift/check", "POST", tag="drift",
           summary="An on-demand check between two data versions (default: latest inference "
                   "against latest reference)",
           query=(Param("format", "html: answer with the HTML report", ("json", "html")),),
           body="DriftCheckRequest",
           replies={200: Reply("the check (or its HTML report with format=html)",
                               "DriftCheck", or_html=True)})
def check_drift(req: func.HttpRequest) -> func.HttpResponse:
    body, html = services().admin.check_drift(req.route_params["model"], json_body(req))
    if req.params.get("format") == "html":
        return func.HttpResponse(html, mimetype="text/html", charset="utf-8")
    return json_response(body)


@api_route(bp, "model_performance", "models/{model}/performance", "GET", tag="drift",
           summary="The champion's realised metrics on each labelled version (ground truth "
                   "joined to the collected inputs), newest first, and the labels waiting for "
                   "their inputs",
           replies={200: Reply("the model's performance records", "ModelPerformance")})
def model_performance(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.model_performance(req.route_params["model"]))


@api_route(bp, "dashboard", "dashboard", "GET", tag="dashboard",
           summary="Every model with its monitor, latest batch and status, open retraining and "
                   "quarantine: a self-contained HTML page",
           replies={200: Reply("a self-contained HTML page", media="text/html")})
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    html = services().dashboard.overview_html(key=req.params.get("code"))
    return func.HttpResponse(html, mimetype="text/html", charset="utf-8")


@api_route(bp, "model_dashboard", "dashboard/{model}", "GET", tag="dashboard",
           summary="One model over every batch: each feature's drift against its threshold, "
                   "data quality and performance trends, alerts with their decisions, "
                   "retraining, quarantine, links to each batch's drift report",
           replies={200: Reply("a self-contained HTML page", media="text/html")})
def model_dashboard(req: func.HttpRequest) -> func.HttpResponse:
    html = services().dashboard.model_html(req.route_params["model"],
                                           key=req.params.get("code"))
    return func.HttpResponse(html, mimetype="text/html", charset="utf-8")


@api_route(bp, "backfill_trends", "models/{model}/trends/backfill", "POST", tag="dashboard",
           summary="Record every stored early check and performance result of the model's "
                   "batches in its trends (models from before trends were kept); idempotent",
           replies={200: Reply("what was recorded", "TrendsBackfill")})
def backfill_trends(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().trends.backfill(req.route_params["model"]))
