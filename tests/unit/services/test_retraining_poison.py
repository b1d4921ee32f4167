"""RetrainPoison (core/services/retraining/poison.py): operators see the poison queue and put a
fixed request back on the requests queue, which reopens it and holds the gate again."""

from __future__ import annotations

import json

import pytest

from core.ports import NotFound
from core.services.retraining.records import GATE, requests_kind
from tests.unit.services.conftest import MODEL, World, deliver

MAX_ATTEMPTS = 5  # host.json maxDequeueCount


def doc(world, request_id):
    return world.state.get(requests_kind(MODEL), request_id).doc


def open_request(world):
    return world.state.get(GATE, MODEL).doc.get("open_request")


def poisoned_request(world: World) -> tuple[str, str]:
    """A request that failed on every delivery; the host moved its message to the poison
    queue. Returns (request id, poison message id)."""
    world.retrainer.error = RuntimeError("bad training data")
    svc = world.services().retraining
    request_id = svc.request(MODEL, reason="drift").request_id
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            deliver(world, svc)
    (message,) = world.queue.messages
    world.queue.delete(message)
    return request_id, world.poison.send(message.body)


@pytest.fixture
def svc(world):
    world.model()
    return world.services().retraining


# --------------------------------------------------------------------------- listing


def test_the_listing_shows_each_message_with_its_body(world, svc):
    world.poison.send(json.dumps({"model": MODEL, "request_id": "r-1"}))
    world.poison.send("not json")

    messages = svc.poison_messages()

    assert [m["body"] for m in messages] == [{"model": MODEL, "request_id": "r-1"}, "not json"]
    assert [m["message_id"] for m in messages] == [m.id for m in world.poison.messages]
    assert all(m["inserted_at"] and m["dequeue_count"] == 0 for m in messages)
    assert svc.poison.count() == 2


def test_the_listing_does_not_take_messages_off_the_queue(world, svc):
    world.poison.send("x")
    svc.poison_messages()
    svc.poison_messages()

    assert len(world.poison.peek()) == 1


# --------------------------------------------------------------------------- requeue


def test_requeue_puts_a_failed_request_back_and_it_runs_again(world, svc):
    request_id, poison_id = poisoned_request(world)
    assert doc(world, request_id)["status"] == "failed" and open_request(world) is None

    result = svc.requeue_poison(poison_id)

    assert result == {"requeued": poison_id, "new_message_id": world.queue.messages[0].id,
                      "queue": "retrain-requests"}
    assert world.poison.messages == []
    stored = doc(world, request_id)
    assert stored["status"] == "queued" and stored["requeued_at"] == world.clock()
    assert open_request(world) == request_id  # no second retraining while it runs

    world.retrainer.error = None  # the operator fixed the cause
    assert deliver(world, svc)["outcome"] == "registered"
    assert doc(world, request_id)["attempts"] == MAX_ATTEMPTS + 1
    assert open_request(world) is None


def test_requeue_of_a_request_still_retrying_reopens_it(world, svc):
    world.retrainer.error = RuntimeError("flaky")
    request_id = svc.request(MODEL, reason="drift").request_id
    with pytest.raises(RuntimeError):
        deliver(world, svc)
    (message,) = world.queue.messages
    poison_id = world.poison.send(message.body)

    svc.requeue_poison(poison_id)

    assert doc(world, request_id)["status"] == "queued"
    assert open_request(world) == request_id


def test_requeue_while_another_request_holds_the_gate_leaves_the_gate(world, svc):
    request_id, poison_id = poisoned_request(world)
    world.retrainer.error = None
    other = svc.request(MODEL, reason="again", force=True).request_id

    svc.requeue_poison(poison_id)

    assert doc(world, request_id)["status"] == "queued"
    assert open_request(world) == other


def test_requeue_of_a_request_that_finished_meanwhile_does_not_reopen_it(world, svc):
    request_id = svc.request(MODEL, reason="drift").request_id
    (message,) = world.queue.messages
    deliver(world, svc)
    poison_id = world.poison.send(message.body)  # a stray copy

    svc.requeue_poison(poison_id)

    assert doc(world, request_id)["status"] == "registered"
    assert open_request(world) is None
    assert deliver(world, svc)["outcome"] == "duplicate"  # and it is never run again


def test_requeue_of_an_unreadable_message_moves_it_as_it_is(world, svc):
    poison_id = world.poison.send("not json")

    result = svc.requeue_poison(poison_id)

    assert result["requeued"] == poison_id
    assert [m.body for m in world.queue.messages] == ["not json"]
    assert world.poison.messages == []


def test_requeue_finds_a_message_past_the_first_page_and_releases_the_others(world, svc):
    ids = [world.poison.send(f"message {n}") for n in range(70)]

    svc.requeue_poison(ids[66])

    assert [m.body for m in world.queue.messages] == ["message 66"]
    assert [m.id for m in world.poison.peek(100)] == ids[:66] + ids[67:]  # all visible again


def test_requeue_of_an_unknown_message_is_not_found_and_moves_nothing(world, svc):
    ids = [world.poison.send(f"message {n}") for n in range(40)]

    with pytest.raises(NotFound):
        svc.requeue_poison("nope")

    assert [m.id for m in world.poison.peek(100)] == ids
    assert world.queue.messages == []
