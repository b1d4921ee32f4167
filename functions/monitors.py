"""Monitors: the `ModelRegistered` Event Grid trigger, the reconcile/scheduler timer and the
operators' monitor endpoints. Behaviour lives in core/monitor_service.py and
core/monitor_runs.py."""

from __future__ import annotations

import logging

import azure.functions as func

from core.bootstrap import services
from core.domain.events import MalformedEvent, ModelRegistered, parse_event
from core.ports import NotFound, PermanentError
from functions.events import event_to_dict, upstream_traces
from functions.http import Reply, api_route, json_response
from functions.tracing import invocation

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("on_model_registered")
@bp.event_grid_trigger(arg_name="event")
def on_model_registered(event: func.EventGridEvent, context: func.Context) -> None:
    """Subscribed to Microsoft.MachineLearningServices.ModelRegistered. Returning acknowledges
    the event; raising (workspace unreachable, throttled) makes Event Grid retry it."""
    with invocation("on_model_registered", context, event_id=getattr(event, "id", None),
                    links=upstream_traces(event)):
        _on_model_registered(event)


def _on_model_registered(event: func.EventGridEvent) -> None:
    try:
        parsed = parse_event(event_to_dict(event))
    except MalformedEvent as exc:
        log.error("%s; acknowledged, a retry would not fix it", exc)
        return
    if not isinstance(parsed, ModelRegistered):
        log.info("event %s of type %s is not for this function; acknowledged",
                 parsed.event_id, getattr(parsed, "event_type", type(parsed).__name__))
        return
    monitors = services().monitors
    try:
        outcome = monitors.ensure(
            parsed.model_name, reason=f"ModelRegistered {parsed.model} (event {parsed.event_id})",
            hint_version=parsed.model_version,
        )
    except NotFound as exc:
        log.warning("event %s: %s; acknowledged", parsed.event_id, exc)
        return
    except PermanentError as exc:  # a name the workspace refuses, a 4xx: a retry cannot help
        log.error("event %s: %s; recorded and acknowledged", parsed.event_id, exc)
        monitors.record_refused(parsed.event_id, model=parsed.model_name, reason=str(exc))
        return
    log.info("event %s: monitor %s %s (%s)", parsed.event_id, outcome.monitor, outcome.action,
             outcome.reason)


@bp.function_name("monitor_scheduler")
@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False)
def monitor_scheduler(timer: func.TimerRequest, context: func.Context) -> None:
    """Every 5 minutes: reconcile every model's monitor (repairs anything an event missed), on
    the local backend run the monitors whose schedule fired, repair retraining requests
    that nothing else would move (core/services/retraining/repair.py), and finish or re-drive
    ingestions whose claim outlived its lease (`IngestService.reconcile`), and sample the
    retraining queue's depth and poison count."""
    with invocation("monitor_scheduler", context, past_due=bool(timer.past_due)):
        _monitor_scheduler()


def _monitor_scheduler() -> None:
    svc = services()

    def reconcile_monitors() -> None:
        outcomes = svc.monitors.ensure_all(reason="reconcile timer")
        changed = [o for o in outcomes if o.action in ("created", "updated", "disabled")]
        log.info("reconciled %d models, %d changed", len(outcomes), len(changed))

    def run_due_monitors() -> None:
        runs = svc.monitor_runs.run_due()
        if runs:
            log.info("ran %d due monitors", len(runs))

    def repair_retraining() -> None:
        repaired = svc.retraining.reconcile()
        if repaired:
            log.warning("retraining repairs: %s", repaired)

    def redrive_ingestions() -> None:
        redriven = svc.ingest.reconcile()
        if redriven:
            log.warning("re-drove %d stale or failed ingestions", len(redriven))

    def sample_queues() -> None:
        svc.queue_gauges.sample()

    failed = []
    for step in (reconcile_monitors, run_due_monitors, repair_retraining, redrive_ingestions,
                 sample_queues):
        try:  # one failing step must not starve the others; the next tick retries it
            with svc.telemetry.span(step.__name__):
                step()
        except Exception as exc:
            log.exception("monitor_scheduler: %s failed", step.__name__)
            failed.append(exc)
    if failed:
        raise failed[0]


@api_route(bp, "list_monitors", "monitors", "GET", tag="monitors",
           summary="Every model's monitor: target, data versions, signals, schedule, state, "
                   "last run", replies={200: Reply("the monitors", "MonitorList")})
def list_monitors(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.list_monitors())


@api_route(bp, "get_monitor", "models/{model}/monitor", "GET", tag="monitors",
           summary="One model's monitor, with its history of re-aims",
           replies={200: Reply("the monitor", "Monitor")})
def get_monitor(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.get_monitor(req.route_params["model"]))


@api_route(bp, "ensure_monitor", "models/{model}/monitor/ensure", "POST", tag="monitors",
           summary="Ensure the monitor now (create, re-aim or leave it)",
           replies={200: Reply("what was done, and the monitor", "EnsureResult")})
def ensure_monitor(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.ensure_monitor(req.route_params["model"]))


@api_route(bp, "run_monitor", "models/{model}/monitor/run", "POST", tag="monitors",
           summary="Run the monitor now (local backend), or trigger its schedule (Azure)",
           replies={200: Reply("the run, completed (local backend)", "MonitorRunResult"),
                    202: Reply("Azure ML runs it; the result arrives as an event",
                               "MonitorRunResult")})
def run_monitor(req: func.HttpRequest) -> func.HttpResponse:
    body = services().admin.run_monitor(req.route_params["model"])
    return json_response(body, 200 if body.get("completed") else 202)


@api_route(bp, "enable_monitor", "models/{model}/monitor/enable", "POST", tag="monitors",
           summary="Enable the monitor", replies={200: Reply("the monitor", "Monitor")})
def enable_monitor(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.set_monitor_enabled(req.route_params["model"], True))


@api_route(bp, "disable_monitor", "models/{model}/monitor/disable", "POST", tag="monitors",
           summary="Disable the monitor (the disable survives re-aims)",
           replies={200: Reply("the monitor", "Monitor")})
def disable_monitor(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(services().admin.set_monitor_enabled(req.route_params["model"], False))
