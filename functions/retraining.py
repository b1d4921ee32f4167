"""Retraining: the drift-alert Event Grid trigger, the `retrain-requests` queue trigger and the
operators' retraining endpoints. Behaviour lives in core/retraining.py."""

from __future__ import annotations

import logging

import azure.functions as func

from core.bootstrap import RETRAIN_QUEUE, services
from core.domain.alerts import alert_from_event
from core.domain.events import MalformedEvent, RunStatusChanged, parse_event
from core.services.retraining.service import JOB_TERMINAL, TAG_REQUEST
from functions.events import event_to_dict
from functions.http import handles_errors, json_body, json_response

bp = func.Blueprint()
log = logging.getLogger(__name__)
KEY = func.AuthLevel.FUNCTION


@bp.function_name("on_azureml_run_event")
@bp.event_grid_trigger(arg_name="event")
def on_azureml_run_event(event: func.EventGridEvent) -> None:
    """Subscribed to RunStatusChanged (filtered on the threshold-breached tag), RunCompleted and
    DatasetDriftDetected: drift alerts become retraining requests; our retraining jobs'
    completions finish their request. Anything else is acknowledged and ignored."""
    try:
        parsed = parse_event(event_to_dict(event))
    except MalformedEvent as exc:
        log.error("%s; acknowledged, a retry would not fix it", exc)
        return
    svc = services()
    if isinstance(parsed, RunStatusChanged) and TAG_REQUEST in parsed.run_tags:
        if parsed.run_status in JOB_TERMINAL:
            model = parsed.run_tags.get("autopilot.model", "")
            result = svc.retraining.complete_job(model, parsed.run_tags[TAG_REQUEST],
                                                 parsed.run_id)
            log.info("retraining job %s finished: %s", parsed.run_id, result["outcome"])
        return
    alert = alert_from_event(parsed)
    if alert is None:
        log.info("event %s is not a drift alert; acknowledged", parsed.event_id)
        return
    outcome = svc.retraining.on_alert(alert)
    log.info("drift alert %s: %s (%s)", alert.alert_key, outcome.decision, outcome.reason)


@bp.function_name("run_retraining")
@bp.queue_trigger(arg_name="msg", queue_name=RETRAIN_QUEUE, connection="AzureWebJobsStorage")
def run_retraining(msg: func.QueueMessage) -> None:
    """One retraining request. Raising makes the host retry it (host.json maxDequeueCount),
    then move it to retrain-requests-poison."""
    result = services().retraining.handle_message(
        msg.get_body().decode("utf-8", errors="replace"),
        message_id=msg.id or "", dequeue_count=msg.dequeue_count or 1,
    )
    log.info("retraining message %s: %s", msg.id, result)


@bp.function_name("request_retraining")
@bp.route(route="models/{model}/retrain", methods=["POST"], auth_level=KEY)
@handles_errors
def request_retraining(req: func.HttpRequest) -> func.HttpResponse:
    body = services().admin.request_retraining(req.route_params["model"], json_body(req))
    return json_response(body, 202 if body["decision"] == "requested" else 200)


@bp.function_name("list_retraining")
@bp.route(route="models/{model}/retraining", methods=["GET"], auth_level=KEY)
@handles_errors
def list_retraining(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.retraining_history(req.route_params["model"]))


@bp.function_name("get_retraining")
@bp.route(route="models/{model}/retraining/{id}", methods=["GET"], auth_level=KEY)
@handles_errors
def get_retraining(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(
        services().admin.get_retraining(req.route_params["model"], req.route_params["id"])
    )


@bp.function_name("list_alerts")
@bp.route(route="models/{model}/alerts", methods=["GET"], auth_level=KEY)
@handles_errors
def list_alerts(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.drift_alerts(req.route_params["model"]))


@bp.function_name("list_poison_retraining")
@bp.route(route="retraining/poison", methods=["GET"], auth_level=KEY)
@handles_errors
def list_poison_retraining(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.poison_messages())


@bp.function_name("requeue_poison_retraining")
@bp.route(route="retraining/poison/{id}/requeue", methods=["POST"], auth_level=KEY)
@handles_errors
def requeue_poison_retraining(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.requeue_poison(req.route_params["id"]))
