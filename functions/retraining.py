"""Retraining: the drift-alert Event Grid trigger, the retraining queue trigger and the
operators' retraining endpoints. Behaviour lives in core/services/retraining/."""

from __future__ import annotations

import logging

import azure.functions as func

from core.bootstrap import services
from core.domain.events import MalformedEvent, parse_event
from functions.events import event_to_dict, upstream_traces
from functions.http import Reply, api_route, json_body, json_response
from functions.tracing import invocation

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("on_azureml_run_event")
@bp.event_grid_trigger(arg_name="event")
def on_azureml_run_event(event: func.EventGridEvent, context: func.Context) -> None:
    """Subscribed to RunStatusChanged (filtered on the threshold-breached tag), RunCompleted and
    DatasetDriftDetected: drift alerts become retraining requests; our retraining jobs'
    completions finish their request. Anything else is acknowledged and ignored."""
    with invocation("on_azureml_run_event", context, event_id=getattr(event, "id", None),
                    links=upstream_traces(event)):
        try:
            parsed = parse_event(event_to_dict(event))
        except MalformedEvent as exc:
            log.error("%s; acknowledged, a retry would not fix it", exc)
            return
        result = services().retraining.on_run_event(parsed)
        log.info("event %s: %s", parsed.event_id, result)


@bp.function_name("run_retraining")
@bp.queue_trigger(arg_name="msg", queue_name="%RETRAIN_QUEUE%", connection="AzureWebJobsStorage")
def run_retraining(msg: func.QueueMessage, context: func.Context) -> None:
    """One retraining request (queue RETRAIN_QUEUE). Raising makes the host retry it (host.json
    maxDequeueCount), then move it to <queue>-poison."""
    with invocation("run_retraining", context, message_id=msg.id,
                    dequeue_count=msg.dequeue_count):
        result = services().retraining.handle_message(
            msg.get_body().decode("utf-8", errors="replace"),
            message_id=msg.id or "", dequeue_count=msg.dequeue_count or 1,
        )
        log.info("retraining message %s: %s", msg.id, result)


@api_route(bp, "request_retraining", "models/{model}/retrain", "POST", tag="retraining",
           summary="Request a retraining by hand (the same debounce unless force)",
           body="RetrainRequestBody",
           replies={200: Reply("suppressed; the reason says why", "RetrainDecision"),
                    202: Reply("requested: a message is on the retraining queue",
                               "RetrainDecision")})
def request_retraining(req: func.HttpRequest) -> func.HttpResponse:
    body = services().admin.request_retraining(req.route_params["model"], json_body(req))
    return json_response(body, 202 if body["decision"] == "requested" else 200)


@api_route(bp, "list_retraining", "models/{model}/retraining", "GET", tag="retraining",
           summary="Retraining history with status, scores and decision, and the gate",
           replies={200: Reply("the history", "RetrainHistory")})
def list_retraining(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.retraining_history(req.route_params["model"]))


@api_route(bp, "get_retraining", "models/{model}/retraining/{id}", "GET", tag="retraining",
           summary="One retraining request",
           replies={200: Reply("the request", "RetrainRequest")})
def get_retraining(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(
        services().admin.get_retraining(req.route_params["model"], req.route_params["id"])
    )


@api_route(bp, "list_alerts", "models/{model}/alerts", "GET", tag="retraining",
           summary="Every drift alert and what became of it (requested, suppressed and why, "
                   "ignored)", replies={200: Reply("the alerts", "AlertList")})
def list_alerts(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.drift_alerts(req.route_params["model"]))


@api_route(bp, "list_poison_retraining", "retraining/poison", "GET", tag="retraining",
           summary="Messages in the retraining poison queue",
           replies={200: Reply("the messages", "PoisonList")})
def list_poison_retraining(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.poison_messages())


@api_route(bp, "requeue_poison_retraining", "retraining/poison/{id}/requeue", "POST",
           tag="retraining", summary="Move one poison message back to the retraining queue",
           replies={200: Reply("requeued", "Requeued")})
def requeue_poison_retraining(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.requeue_poison(req.route_params["id"]))
