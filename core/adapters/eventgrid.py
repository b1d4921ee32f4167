"""The autopilot's own events on Event Grid: CloudEvents 1.0 published to a topic through the
SDK's `EventGridPublisherClient`, signing in with the app's identity (the EventGrid Data Sender
role on the topic) or an access key.

Bounded: one retry, short socket timeouts, so a refusing or unreachable topic answers within
seconds; `core.services.reporting.BestEffortEvents` turns the answer into a record, never a
failure of the use case.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.domain.observability import AutopilotEvent
from core.ports import EventsUnavailable

if TYPE_CHECKING:
    from azure.core.credentials import AzureKeyCredential, TokenCredential

# Per-call pipeline options (the Basic tier client drops options given at construction).
BOUNDED: dict[str, Any] = {"retry_total": 1, "retry_backoff_factor": 0.2,
                           "connection_timeout": 3, "read_timeout": 5}


class _OptionsAreNotEventFields(logging.Filter):
    """azure-eventgrid's Basic tier `send` hands the per-call options to its CloudEvent
    serializer too, which warns that they are not CloudEvent attributes on every send; they
    are pipeline options (they still reach the pipeline). Drop exactly those warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("is not a known attribute of class" in message
                    and message.split(" ", 1)[0] in BOUNDED)


logging.getLogger("azure.eventgrid._legacy._generated._serialization").addFilter(
    _OptionsAreNotEventFields())

_REFUSALS = {
    400: "the topic refused the events as malformed (it must accept CloudEvents 1.0: "
         "inputSchema CloudEventSchemaV1_0)",
    401: "the topic refused the credential (a wrong AUTOPILOT_EVENTS_KEY, or a token for "
         "another audience)",
    403: "the app's identity lacks the EventGrid Data Sender role on the topic (or the topic "
         "allows no Entra ID sign-in)",
    404: "no topic answers at this endpoint: check AUTOPILOT_EVENTS_ENDPOINT (it ends in "
         "/api/events)",
    413: "the events are larger than the topic accepts (1 MB a batch)",
    429: "the topic is throttling",
}


class EventGridAutopilotEvents:
    """`AutopilotEvents` over an Event Grid topic (CloudEvents schema)."""

    def __init__(self, endpoint: str, credential: TokenCredential | AzureKeyCredential, *,
                 source: str, options: dict[str, Any] | None = None):
        from azure.eventgrid import EventGridPublisherClient

        self.endpoint = endpoint
        self.destination = f"Event Grid topic {endpoint}"
        self.source = source
        self._options = {**BOUNDED, **(options or {})}
        self._client = EventGridPublisherClient(endpoint, credential)

    def publish(self, events: Sequence[AutopilotEvent]) -> None:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )
        from azure.core.messaging import CloudEvent

        batch = [CloudEvent(source=self.source, type=e.type, subject=e.subject,
                            data=dict(e.data), id=e.id, time=datetime.fromisoformat(e.time),
                            datacontenttype="application/json") for e in events]
        try:
            self._client.send(batch, **self._options)
        except HttpResponseError as exc:
            cause = exc.__cause__  # the SDK re-raises a 404 without its status
            status = exc.status_code or getattr(cause, "status_code", None)
            if status is None:
                if isinstance(exc, ClientAuthenticationError):  # from the credential
                    raise EventsUnavailable(
                        f"{self.destination}: no token for the app's identity ({exc.message})"
                    ) from None
                raise EventsUnavailable(f"{self.destination}: {exc.message}") from None
            why = _REFUSALS.get(status) or ("the topic is failing" if status >= 500 else
                                            "the topic refused the events")
            raise EventsUnavailable(f"{self.destination} answered HTTP {status}: {why}") \
                from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise EventsUnavailable(
                f"{self.destination} is unreachable: {exc.message or type(exc).__name__}"
            ) from None

    def close(self) -> None:
        self._client.close()
