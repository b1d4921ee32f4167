"""The autopilot's own events through the real `EventGridPublisherClient` (azure-eventgrid)
against a loopback topic that records what it receives: the CloudEvents batch, the key or the
app identity's token, and what becomes of a topic that refuses (4xx, 5xx) or cannot be
reached: a clear error naming the topic, recorded and shown in health, never a lost file."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.messaging import CloudEvent

from core.adapters.eventgrid import EventGridAutopilotEvents
from core.domain.observability import EVENT_TYPES, QUARANTINED, AutopilotEvent
from core.ports import EventsUnavailable
from devtools.azurite import self_signed_certificate
from tests.identity import FakeIdentityEndpoint, StaticTokenCredential
from tests.loopback import LoopbackServer, closed_port

SOURCE = "/monitor-autopilot/test"
APP_IDENTITY = "5b3c8f2e-7a41-4d3b-9c8e-2f6a1d4e8b90"


def quarantined(model: str = "churn", ingestion: str = "abc123") -> AutopilotEvent:
    return AutopilotEvent.of(QUARANTINED, ingestion, {
        "model": model, "ingestion_id": ingestion, "blob": f"inference/{model}/x.csv",
        "reason_code": "missing_columns", "reason": "missing columns: income", "line": 1,
        "column": None, "quarantine_record": "q/x.json", "replay": "POST /api/..."})


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def topic():
    with LoopbackServer().running() as server:
        yield server


def test_the_sdk_client_posts_a_cloudevents_batch_with_the_key(topic):
    events = EventGridAutopilotEvents(f"{topic.base}/api/events", AzureKeyCredential("k3y"),
                                      source=SOURCE)
    event = quarantined()
    events.publish([event])

    (request,) = topic.posted("/api/events")
    assert request.query["api-version"]
    assert request.headers["aeg-sas-key"] == "k3y"
    assert request.headers["content-type"].startswith("application/cloudevents-batch+json")
    (received,) = request.json()
    # Read back with the SDK's own model, as a subscriber would.
    cloud = CloudEvent.from_dict(received)
    assert (cloud.id, cloud.source, cloud.type, cloud.subject) == (
        event.id, SOURCE, QUARANTINED, "models/churn/ingestions/abc123")
    assert cloud.specversion == "1.0"
    assert set(cloud.data) == set(EVENT_TYPES[QUARANTINED].data)
    assert cloud.data["reason_code"] == "missing_columns"


def test_with_the_app_identity_it_signs_in_for_event_grid_over_https(tls, monkeypatch):
    """Through the composition root: the endpoint setting, no key, AZURE_CLIENT_ID, and the
    managed-identity endpoint Functions provides (a loopback stand-in)."""
    from core.bootstrap import build_services
    from core.settings import load_settings

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls[0]))
    with LoopbackServer(tls=tls).running() as https_topic, \
            FakeIdentityEndpoint(with_role={APP_IDENTITY}).running() as identity:
        for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
                     "MSI_ENDPOINT", "MSI_SECRET"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("IDENTITY_ENDPOINT", identity.url)
        monkeypatch.setenv("IDENTITY_HEADER", identity.SECRET)
        settings = load_settings({
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "AZURE_CLIENT_ID": APP_IDENTITY,
            "AUTOPILOT_EVENTS_ENDPOINT": f"{https_topic.base}/api/events"})
        services = build_services(settings)
        services.autopilot_events.publish([quarantined()])

        (request,) = https_topic.posted("/api/events")
        scheme, token = request.headers["authorization"].split(" ")
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        assert scheme == "Bearer"
        assert claims["aud"] == "https://eventgrid.azure.net"
        assert claims["appid"] == APP_IDENTITY
        assert "aeg-sas-key" not in request.headers
        assert services.autopilot_events.destination == \
            f"Event Grid topic {https_topic.base}/api/events"


@pytest.mark.parametrize("status, says", [
    (400, "CloudEvents 1.0"),
    (401, "refused the credential"),
    (403, "EventGrid Data Sender"),
    (404, "AUTOPILOT_EVENTS_ENDPOINT"),
    (500, "the topic is failing"),
    (503, "the topic is failing"),
])
def test_a_refusing_topic_is_a_clear_error_naming_it(topic, status, says):
    topic.status = status
    endpoint = f"{topic.base}/api/events"
    events = EventGridAutopilotEvents(endpoint, AzureKeyCredential("k"), source=SOURCE)

    with pytest.raises(EventsUnavailable) as raised:
        events.publish([quarantined()])
    message = str(raised.value)
    assert f"Event Grid topic {endpoint} answered HTTP {status}" in message and says in message
    # Bounded: a 5xx is tried twice at most, a 4xx once.
    assert len(topic.received) == (2 if status >= 500 else 1)


def test_an_unreachable_topic_is_a_clear_error_within_seconds():
    endpoint = f"http://127.0.0.1:{closed_port()}/api/events"
    events = EventGridAutopilotEvents(endpoint, AzureKeyCredential("k"), source=SOURCE)

    started = time.perf_counter()
    with pytest.raises(EventsUnavailable, match=f"Event Grid topic {endpoint} is unreachable"):
        events.publish([quarantined()])
    assert time.perf_counter() - started < 5


def test_an_identity_without_a_token_is_a_clear_error(topic):
    class NoToken(StaticTokenCredential):
        def get_token(self, *scopes, **kwargs):
            from azure.core.exceptions import ClientAuthenticationError

            raise ClientAuthenticationError("ManagedIdentityCredential: no identity here")

    # Bearer tokens are sent over TLS only; the request never leaves (no token).
    events = EventGridAutopilotEvents(f"https://127.0.0.1:{closed_port()}/api/events",
                                      NoToken(), source=SOURCE)
    with pytest.raises(EventsUnavailable, match="no token for the app's identity"):
        events.publish([quarantined()])


# --------------------------------------------------------------------------- through the app


@pytest.fixture
def published(app_env, monkeypatch):
    """The app with AUTOPILOT_EVENTS_ENDPOINT at a loopback topic (key auth: plain HTTP)."""
    from core.bootstrap import reset_services

    def configure(endpoint: str):
        monkeypatch.setenv("AUTOPILOT_EVENTS_ENDPOINT", endpoint)
        monkeypatch.setenv("AUTOPILOT_EVENTS_KEY", "k3y")
        reset_services()

    return configure


def _quarantine(host, upload) -> tuple:
    name = f"churn/{uuid.uuid4().hex[:6]}.csv"
    started = time.perf_counter()
    result = host.blob(upload(name, b"only,a,header\n"))
    return result, time.perf_counter() - started


def test_a_quarantined_file_reaches_the_topic_as_a_cloudevent(published, topic, host, upload,
                                                              services):
    published(f"{topic.base}/api/events")
    result, _ = _quarantine(host, upload)

    assert result.ok
    (request,) = topic.posted("/api/events")
    (cloud,) = [CloudEvent.from_dict(e) for e in request.json()]
    assert cloud.type == QUARANTINED and cloud.data["reason_code"] == "no_rows"
    assert cloud.source == "/monitor-autopilot/local"
    health = json.loads(host.http("GET", "/api/health").get_body())
    assert health == {"status": "up", "dependencies": health["dependencies"]}
    assert health["dependencies"]["autopilot_events"] == "up"


@pytest.mark.parametrize("broken", ["refusing", "unreachable"])
def test_a_broken_topic_loses_no_file_and_is_named_in_logs_and_health(
        published, topic, host, upload, caplog, broken):
    from core.bootstrap import services

    topic.status = 403
    endpoint = f"{topic.base}/api/events" if broken == "refusing" else \
        f"http://127.0.0.1:{closed_port()}/api/events"
    published(endpoint)
    first, seconds = _quarantine(host, upload)
    second, later = _quarantine(host, upload)  # within the pause: not even tried

    assert first.ok and second.ok  # acknowledged: quarantined and recorded as ever
    assert seconds < 5 and later < 1
    rejected = services().ledger.list(status="rejected")
    assert len(rejected) == 2 and all(r.quarantine_record for r in rejected)
    assert len(topic.received) == (1 if broken == "refusing" else 0)
    why = "answered HTTP 403" if broken == "refusing" else "is unreachable"
    assert f"Event Grid topic {endpoint} {why}" in caplog.text

    health = host.http("GET", "/api/health")
    assert health.status_code == 200  # the loop works: degraded, not down
    body = json.loads(health.get_body())
    assert body["status"] == "up" and body["degraded"] == ["autopilot_events"]
    assert body["dependencies"]["autopilot_events"] == "down"
    details = json.loads(host.http("GET", "/api/health/details").get_body())
    error = details["errors"]["autopilot_events"]
    assert f"Event Grid topic {endpoint}" in error and "2 events not delivered" in error
    assert details["settings"]["events"] == {"endpoint": endpoint,
                                             "authentication": "access key"}
    assert "k3y" not in json.dumps(details)
