"""MonitorService (core/services/monitors.py): one monitor per model, aimed at its highest
version and latest data, whatever order events arrive in; ETag-checked state."""

from __future__ import annotations

import pytest

from core.domain.monitoring import AssetRef, MonitorTrigger
from core.ports import Conflict, NotFound
from core.services.monitors import KIND
from tests.fakes import FakeStateStore, FakeWorkspace
from tests.unit.services.conftest import MODEL

MONITOR = f"{MODEL}-monitor"


@pytest.fixture
def ready(world):
    """A model with reference and inference data: its monitor can be created."""
    world.model()
    world.reference()
    world.inference()
    return world


def ensure(world, model=MODEL, reason="test", **kw):
    return world.services().monitors.ensure(model, reason=reason, **kw)


def spec(world):
    return world.ws.monitors[MONITOR]


def state(world, model=MODEL):
    return world.state.get(KIND, model).doc


# ------------------------------------------------------------- created, updated, unchanged


def test_first_ensure_creates_the_monitor(ready):
    outcome = ensure(ready, reason="ModelRegistered churn:1")

    assert (outcome.action, outcome.status, outcome.monitor, outcome.model_version) == (
        "created", "active", MONITOR, "1")
    created = spec(ready)
    assert (created.model_name, created.model_version) == (MODEL, "1")
    assert created.reference_data == AssetRef(f"{MODEL}-training", "1")
    assert created.production_data == AssetRef(f"{MODEL}-inference", "1")
    assert created.signal_names() == (f"{MONITOR}_data_drift", f"{MONITOR}_data_quality")
    assert created.trigger == MonitorTrigger.daily("03:00") and created.enabled
    doc = state(ready)
    assert doc["status"] == "active" and doc["reason"] == "monitor created"
    assert doc["created_at"] == ready.clock() == doc["changed_at"] == doc["checked_at"]
    assert doc["last_trigger"] == "ModelRegistered churn:1"
    assert [h["action"] for h in doc["history"]] == ["created"]


def test_ensure_again_leaves_it_unchanged(ready):
    ensure(ready)
    ready.clock.advance(60)

    outcome = ensure(ready)

    assert outcome.action == "unchanged" and outcome.reason == "monitor already up to date"
    assert len(ready.ws.monitor_writes) == 1
    doc = state(ready)
    assert doc["checked_at"] == ready.clock() and doc["changed_at"] == ready.clock() - 60
    assert len(doc["history"]) == 1


def test_new_inference_data_re_aims_it(ready):
    ensure(ready)
    ready.inference()  # churn-inference:2

    outcome = ensure(ready, reason="new inference data churn-inference:2")

    assert outcome.action == "updated" and outcome.changes == ("production_data",)
    assert outcome.reason == "monitor re-aimed: production_data"
    assert spec(ready).production_data == AssetRef(f"{MODEL}-inference", "2")
    history = state(ready)["history"]
    assert [(h["action"], h["production_data"]) for h in history] == [
        ("created", f"{MODEL}-inference:1"), ("updated", f"{MODEL}-inference:2")]


def test_a_new_model_version_re_aims_it_at_the_version_and_its_reference(ready):
    ensure(ready)
    ready.reference()  # training:2, the new model's training data
    ready.model()  # churn:2

    outcome = ensure(ready)

    assert set(outcome.changes) == {"model_version", "reference_data"}
    assert (spec(ready).model_version, str(spec(ready).reference_data)) == (
        "2", f"{MODEL}-training:2")


def test_collected_model_outputs_add_a_prediction_drift_signal(ready):
    ready.ws.add_data(f"{MODEL}-outputs", ready.ws.tables[(f"{MODEL}-inference", "1")])

    ensure(ready)

    assert spec(ready).production_outputs == AssetRef(f"{MODEL}-outputs", "1")
    assert f"{MONITOR}_prediction_drift" in spec(ready).signal_names()


def test_tags_override_the_settings(world):
    world.model(**{"autopilot.schedule": "*/30 * * * *", "autopilot.features": "age,city",
                   "autopilot.alert_emails": "a@x.com;b@x.com"})
    world.reference()
    world.inference()

    ensure(world)

    assert spec(world).trigger == MonitorTrigger(cron="*/30 * * * *")
    assert spec(world).features == ("age", "city")
    assert spec(world).alert_emails == ("a@x.com", "b@x.com")


def test_a_pinned_reference_tag_is_followed(ready):
    ready.reference()  # training:2
    ready.ws.add_model(MODEL, tags={"autopilot.reference_data": f"{MODEL}-training:1"})

    ensure(ready)

    assert str(spec(ready).reference_data) == f"{MODEL}-training:1"


def test_with_label_columns_the_monitor_watches_the_other_reference_columns(ready):
    ready.services(LABEL_COLUMNS="approved").monitors.ensure(MODEL, reason="test")

    assert spec(ready).features == ("age", "income", "city")


# ------------------------------------------------------------- the highest version wins


def test_reordered_hints_leave_the_monitor_on_the_highest_version(ready):
    ready.model()
    ready.model()  # churn:1..3

    first = ensure(ready, hint_version="3")
    late = ensure(ready, hint_version="2")
    older = ensure(ready, hint_version="1")

    assert first.model_version == late.model_version == older.model_version == "3"
    assert (late.action, older.action) == ("unchanged", "unchanged")
    assert [s.model_version for s in ready.ws.monitor_writes] == ["3"]


class LaggingWorkspace(FakeWorkspace):
    """Listing lags registration (eventual consistency): the newest versions are not listed
    yet, though they can be read by name."""

    def __init__(self) -> None:
        super().__init__()
        self.unlisted: set[str] = set()

    def list_model_versions(self, name):
        return [v for v in super().list_model_versions(name) if v.version not in self.unlisted]


def test_the_events_version_counts_when_the_listing_lags(world):
    world.ws = LaggingWorkspace()
    world.model()
    world.model()
    world.ws.unlisted.add("2")
    world.reference()
    world.inference()

    assert ensure(world, hint_version="2").model_version == "2"
    assert ensure(world).model_version == "1"  # no hint: only what the workspace lists


def test_a_hint_naming_a_version_that_does_not_exist_is_ignored(ready):
    assert ensure(ready, hint_version="9").model_version == "1"


def test_named_versions_come_before_integer_versions(ready):
    ready.ws.add_model(MODEL, version="candidate")

    assert ensure(ready).model_version == "1"


# --------------------------------------------------------------------------- waiting states


def test_without_reference_data_it_waits_for_the_reference(world):
    world.model()
    world.inference()

    outcome = ensure(world)

    assert (outcome.action, outcome.status) == ("waiting", "waiting_for_reference")
    assert outcome.reason == f"reference data asset {MODEL}-training not found"
    assert world.ws.monitors == {}
    assert state(world)["status"] == "waiting_for_reference"
    world.reference()
    assert ensure(world).action == "created"


def test_a_pinned_reference_that_does_not_exist_is_waited_for(world):
    world.model(**{"autopilot.reference_data": "churn-train:4"})
    world.inference()

    outcome = ensure(world)

    assert outcome.status == "waiting_for_reference" and "churn-train:4" in outcome.reason


def test_before_the_first_batch_it_waits_for_data(world):
    world.model()
    world.reference()

    outcome = ensure(world)

    assert (outcome.action, outcome.status) == ("waiting", "waiting_for_data")
    assert f"{MODEL}-inference" in outcome.reason
    assert world.ws.monitors == {}
    described = world.services().monitors.describe(MODEL)
    assert described["exists"] is False and described["status"] == "waiting_for_data"
    assert described["model_version"] == "1"


def test_a_model_that_never_existed_is_not_found_and_leaves_no_state(world):
    with pytest.raises(NotFound, match="has no registered version"):
        ensure(world, model="ghost", hint_version="3")

    assert world.state.get(KIND, "ghost") is None


def test_a_model_with_a_monitor_state_and_no_version_is_recorded_as_not_found(world):
    world.services().monitors.record("ghost", status="active")
    with pytest.raises(NotFound, match="has no registered version"):
        ensure(world, model="ghost", hint_version="3")

    doc = state(world, "ghost")
    assert doc["status"] == "model_not_found" and "event named version 3" in doc["reason"]


@pytest.mark.parametrize(("model", "version"), [("my model", None), ("team/fraud", None),
                                                ("../../etc", None), ("churn", "../x")])
def test_names_the_workspace_would_refuse_are_refused_before_any_call(world, model, version):
    from core.ports import InvalidName

    with pytest.raises(InvalidName):
        ensure(world, model=model, hint_version=version)
    assert world.state.list(KIND) == []


# --------------------------------------------------------------------------- opting out, disabling


def test_opting_out_disables_the_monitor_and_keeps_it(ready):
    ensure(ready)
    ready.model(**{"autopilot.monitor": "false"})  # churn:2 opts out

    outcome = ensure(ready)

    assert (outcome.action, outcome.status) == ("disabled", "opted_out")
    assert spec(ready).enabled is False and spec(ready).model_version == "1"  # kept as it was
    assert ensure(ready).action == "opted_out"  # already disabled: nothing to write
    assert len(ready.ws.monitor_writes) == 2


def test_opting_out_before_any_monitor_creates_none(world):
    world.model(**{"autopilot.monitor": "false"})
    world.reference()
    world.inference()

    assert ensure(world).status == "opted_out"
    assert world.ws.monitors == {}


def test_with_watch_all_models_false_only_tagged_models_get_a_monitor(ready):
    monitors = ready.services(WATCH_ALL_MODELS="false").monitors
    assert monitors.ensure(MODEL, reason="t").status == "opted_out"
    ready.model(**{"autopilot.monitor": "true"})
    assert monitors.ensure(MODEL, reason="t").action == "created"


def test_opting_back_in_enables_the_monitor_again(ready):
    ensure(ready)
    ready.model(**{"autopilot.monitor": "false"})
    ensure(ready)
    ready.model()  # churn:3, no opt-out

    outcome = ensure(ready)

    assert outcome.action == "updated" and spec(ready).enabled
    assert spec(ready).model_version == "3"


def test_an_operators_disable_sticks_across_re_aims_until_enabled(ready):
    monitors = ready.services().monitors
    monitors.ensure(MODEL, reason="t")

    described = monitors.set_enabled(MODEL, False)
    ready.inference()
    re_aimed = monitors.ensure(MODEL, reason="new data")

    assert described["enabled"] is False
    assert re_aimed.action == "updated"
    assert spec(ready).enabled is False and str(spec(ready).production_data) == \
        f"{MODEL}-inference:2"
    assert state(ready)["operator_disabled"] is True

    assert monitors.set_enabled(MODEL, True)["enabled"] is True
    assert monitors.ensure(MODEL, reason="t").action == "unchanged"
    assert spec(ready).enabled is True


def test_enabling_a_monitor_that_does_not_exist_is_not_found(world):
    with pytest.raises(NotFound):
        world.services().monitors.set_enabled(MODEL, True)


# --------------------------------------------------------------------------- invalid configuration


@pytest.mark.parametrize("tag, value", [
    ("autopilot.schedule", "every day"),
    ("autopilot.ml_task", "ranking"),
    ("autopilot.drift_threshold", "0"),
    ("autopilot.alert_emails", "ops"),
    ("autopilot.features", ",,"),
])
def test_a_malformed_tag_is_recorded_and_leaves_the_monitor_as_it_was(ready, tag, value):
    ensure(ready)
    before = spec(ready)
    ready.model(**{tag: value})

    outcome = ensure(ready)

    assert (outcome.action, outcome.status) == ("invalid", "invalid_configuration")
    assert outcome.reason.startswith(f"tag {tag}: ")
    assert outcome.reason.endswith("the monitor is left as it was")
    assert spec(ready) == before and len(ready.ws.monitor_writes) == 1
    assert state(ready)["status"] == "invalid_configuration"
    assert state(ready)["reason"] == outcome.reason


def test_a_malformed_reference_tag_is_invalid_configuration(world):
    world.model(**{"autopilot.reference_data": "churn-train:"})
    world.inference()

    outcome = ensure(world)

    assert outcome.status == "invalid_configuration"
    assert "autopilot.reference_data" in outcome.reason


# --------------------------------------------------------------------------- concurrency


class InterleavingStateStore(FakeStateStore):
    """Runs `meanwhile` (another instance's write) just before our next create or replace of
    the monitor state, once, as if it had happened between our read and our write."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile = None
        self.conflicts = 0

    def _interleave(self, kind):
        if kind == KIND and self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()

    def create(self, kind, key, doc):
        self._interleave(kind)
        try:
            return super().create(kind, key, doc)
        except Conflict:
            self.conflicts += 1
            raise

    def replace(self, kind, key, doc, etag):
        self._interleave(kind)
        try:
            return super().replace(kind, key, doc, etag)
        except Conflict:
            self.conflicts += 1
            raise


def test_a_write_between_our_read_and_our_write_makes_ensure_go_round(ready):
    ready.state = InterleavingStateStore()
    monitors = ready.services().monitors
    monitors.ensure(MODEL, reason="t")
    ready.inference()  # churn-inference:2
    # Another instance records a run (a kept field) between our read and our write.
    ready.state.meanwhile = lambda: monitors.record(MODEL, last_run={"run_id": "r-9"})

    outcome = monitors.ensure(MODEL, reason="new data")

    assert ready.state.conflicts == 1
    assert outcome.action == "updated"
    assert state(ready)["last_run"] == {"run_id": "r-9"}  # decided again over the latest state
    assert str(spec(ready).production_data) == f"{MODEL}-inference:2"


def test_concurrent_first_ensures_agree_on_one_created_monitor(ready):
    ready.state = InterleavingStateStore()
    other = ready.services().monitors
    ready.state.meanwhile = lambda: other.ensure(MODEL, reason="the other instance")

    outcome = ready.services().monitors.ensure(MODEL, reason="us")

    assert ready.state.conflicts == 1
    assert outcome.action == "unchanged"  # the other created it; we found it up to date
    assert [s.model_version for s in ready.ws.monitor_writes] == ["1"]


class SlowWorkspace(FakeWorkspace):
    """Runs `meanwhile` inside our next schedule write, before it lands: another instance
    completes a whole ensure while ours is in flight, and ours lands last, stale."""

    meanwhile = None

    def create_or_update_monitor(self, spec):
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return super().create_or_update_monitor(spec)


def test_a_slow_writer_with_stale_reads_goes_round_and_the_last_write_is_right(world):
    world.ws = SlowWorkspace()
    world.model()
    world.reference()
    world.inference()
    ensure(world)
    world.model()  # churn:2 registered; both instances get its event
    other = world.services().monitors

    def newer_arrives_and_is_handled():
        world.model()  # churn:3
        other.ensure(MODEL, reason="ModelRegistered churn:3")

    world.ws.meanwhile = newer_arrives_and_is_handled

    outcome = world.services().monitors.ensure(MODEL, reason="ModelRegistered churn:2")

    writes = [s.model_version for s in world.ws.monitor_writes]
    assert writes == ["1", "3", "2", "3"]  # our stale "2" landed, then we went round
    assert outcome.model_version == "3"
    assert spec(world).model_version == "3"
    assert state(world)["model_version"] == "3"


# --------------------------------------------------------------------------- queries, reconcile


def test_describe_shows_the_schedule_its_targets_and_history(ready):
    ensure(ready, reason="first")

    described = ready.services().monitors.describe(MODEL)

    assert described["exists"] is True and described["status"] == "active"
    assert described["model_version"] == "1" and described["enabled"] is True
    assert described["reference_data"] == f"{MODEL}-training:1"
    assert described["production_data"] == f"{MODEL}-inference:1"
    assert described["schedule"] == "daily at 03:00 UTC"
    assert described["last_trigger"] == "first" and len(described["history"]) == 1


def test_describe_a_model_with_no_monitor_and_no_state_is_not_found(world):
    with pytest.raises(NotFound):
        world.services().monitors.describe(MODEL)


def test_list_all_shows_monitors_and_waiting_models(ready):
    ensure(ready)
    ready.model("fraud")
    ensure(ready, "fraud")  # waiting for its reference

    listed = ready.services().monitors.list_all()

    assert [(m["model"], m["status"], m["exists"]) for m in listed] == [
        (MODEL, "active", True), ("fraud", "waiting_for_reference", False)]


def test_ensure_all_reconciles_every_model_and_one_failure_stops_none(ready):
    ready.model("fraud")
    ready.model("broken")
    ready.ws.broken_monitors.add("broken-monitor")

    outcomes = ready.services().monitors.ensure_all(reason="reconcile")

    assert [(o.model, o.action) for o in outcomes] == [(MODEL, "created"),
                                                       ("fraud", "waiting")]
    assert state(ready)["last_trigger"] == "reconcile"
