"""Event sinks: how the local backend delivers the events Azure would send through Event Grid
(`ModelRegistered` when the local workspace registers a model, `RunStatusChanged` when a local
monitor run breaches).

- `InProcessEventSink`: straight to the registered Event Grid functions in this process (the
  demo, the tests, a local worker without Core Tools).
- `WebhookEventSink`: POSTed to a running `func start`, exactly as Event Grid's local webhook
  is called (azure-facts section 6).
- `NullEventSink`: nothing is delivered; the reconcile timer and the admin API still converge.

`EVENT_ROUTES` mirrors the Event Grid subscriptions of a deployment: which function each event
type is delivered to.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable

from core.domain.events import (
    DATASET_DRIFT_DETECTED,
    MODEL_REGISTERED,
    RUN_COMPLETED,
    RUN_STATUS_CHANGED,
)

log = logging.getLogger(__name__)

EVENT_ROUTES = {
    MODEL_REGISTERED: "on_model_registered",
    RUN_STATUS_CHANGED: "on_azureml_run_event",
    RUN_COMPLETED: "on_azureml_run_event",
    DATASET_DRIFT_DETECTED: "on_azureml_run_event",
}


def route_of(event: dict) -> str | None:
    event_type = event.get("eventType") or event.get("type") or ""
    return EVENT_ROUTES.get(event_type)


class NullEventSink:
    def __init__(self):
        self.published: list[dict] = []

    def publish(self, events: list[dict]) -> None:
        self.published.extend(events)
        for event in events:
            log.info("event not delivered (EVENT_SINK=none): %s %s", event.get("eventType"),
                     event.get("subject"))


Dispatch = Callable[[list[dict], str], list]


class InProcessEventSink:
    """Delivers to `dispatch(events, function_name)`, which invokes the registered function
    the way the host would. `dispatcher` is asked at each publish (the app hands its dispatcher
    over when it loads). A failing delivery is logged, never raised into the producer (a
    registered model stays registered); the reconcile timer repairs what it missed."""

    def __init__(self, dispatcher: Callable[[], Dispatch | None]):
        self._dispatcher = dispatcher

    def publish(self, events: list[dict]) -> None:
        dispatch = self._dispatcher()
        for event in events:
            function = route_of(event)
            if function is None:
                log.warning("no subscription for event type %s", event.get("eventType"))
                continue
            if dispatch is None:
                log.error("event %s not delivered: no in-process dispatcher (the function app "
                          "is not loaded in this process; EVENT_SINK=inprocess needs it)",
                          event.get("id"))
                continue
            try:
                for result in dispatch([event], function):
                    if not getattr(result, "ok", True):
                        log.error("delivery of %s to %s failed: %s", event.get("id"), function,
                                  getattr(result, "error", "?"))
            except Exception:
                log.exception("delivery of %s to %s failed", event.get("id"), function)


class WebhookEventSink:
    """POSTs to a running Functions host's Event Grid webhook (`func start`)."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    def publish(self, events: list[dict]) -> None:
        for event in events:
            function = route_of(event)
            if function is None:
                continue
            request = urllib.request.Request(
                f"{self._base}/runtime/webhooks/eventgrid?functionName={function}",
                data=json.dumps([event]).encode(),
                headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as response:
                    response.read()
            except OSError:
                log.exception("could not post %s to %s", event.get("id"), self._base)
