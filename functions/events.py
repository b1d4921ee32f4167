"""What the Event Grid trigger hands us, back as the plain event dict `core` parses (either
envelope: azure-functions decodes CloudEvents 1.0 into `func.CloudEvent`)."""

from __future__ import annotations

from datetime import datetime

import azure.functions as func


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def event_to_dict(event) -> dict:
    if isinstance(event, func.EventGridEvent):
        return {
            "id": event.id,
            "topic": event.topic,
            "subject": event.subject,
            "eventType": event.event_type,
            "eventTime": _iso(event.event_time),
            "data": event.get_json(),
            "dataVersion": event.data_version,
        }
    cloud = getattr(func, "CloudEvent", None)
    if cloud is not None and isinstance(event, cloud):
        return {
            "id": event.id,
            "source": event.source,
            "subject": event.subject,
            "type": event.type,
            "time": _iso(event.time),
            "data": event.get_json(),
            "specversion": event.specversion,
        }
    if isinstance(event, dict):
        return event
    raise TypeError(f"not an Event Grid event: {type(event).__name__}")


def upstream_traces(event) -> list[str]:
    """The W3C trace context an event carried, if any (the CloudEvents distributed tracing
    extension `traceparent`; Event Grid schema events carry none)."""
    extensions = getattr(event, "extension_attrs", None)
    if isinstance(extensions, dict) and isinstance(extensions.get("traceparent"), str):
        return [extensions["traceparent"]]
    if isinstance(event, dict) and isinstance(event.get("traceparent"), str):
        return [event["traceparent"]]
    return []
