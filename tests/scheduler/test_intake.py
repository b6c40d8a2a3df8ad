"""Intake: only trusted people start runs; a labelled ticket is enqueued once."""

import json

import pytest
from sqlalchemy import Engine

from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from tests.support.github_standin import labeled
from worker.github.fake import FakeGitHub
from worker.store.models import DeliveryStatus, TicketStatus
from worker.store.repo import find_ticket, get_delivery, record_delivery

REPO = "Codertocat/Hello-World"


def deliver(
    engine: Engine, gh: FakeGitHub, enqueued: list[int], delivery: str, **kw: object
) -> DeliveryStatus | None:
    body = json.dumps(labeled(**kw))  # type: ignore[arg-type]
    record_delivery(engine, delivery, "issues", "labeled", body)
    return process_delivery(delivery, IntakeDeps(engine, gh, "burndown", enqueued.append))


@pytest.mark.parametrize("role", ["admin", "maintain", "write"])
def test_a_trusted_label_queues_the_ticket(engine: Engine, role: str) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): role}), []
    assert deliver(engine, gh, enqueued, "d1") == DeliveryStatus.PROCESSED
    ticket = find_ticket(engine, REPO, 1)
    assert ticket is not None and ticket.status == TicketStatus.QUEUED
    assert ticket.title == "Spelling error in the README file" and ticket.labeled_by == "Codertocat"
    assert enqueued == [ticket.id] and gh.comments == []


@pytest.mark.parametrize("role", ["triage", "read", "none"])
def test_an_untrusted_label_gets_a_polite_comment_and_nothing_else(
    engine: Engine, role: str
) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): role}), []
    assert deliver(engine, gh, enqueued, "d1") == DeliveryStatus.REJECTED
    assert enqueued == [] and find_ticket(engine, REPO, 1) is None
    ((_, number, body),) = gh.comments
    assert number == 1 and "@Codertocat" in body and "write, maintain or admin" in body
    d = get_delivery(engine, "d1")
    assert d is not None and role in d.note


def test_a_second_label_while_queued_does_not_enqueue_again(engine: Engine) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): "write"}), []
    deliver(engine, gh, enqueued, "d1")
    deliver(engine, gh, enqueued, "d2")
    assert len(enqueued) == 1
    d = get_delivery(engine, "d2")
    assert d is not None and d.note == "already queued or running"


def test_processing_a_delivery_twice_acts_once(engine: Engine) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): "write"}), []
    deliver(engine, gh, enqueued, "d1")
    again = process_delivery("d1", IntakeDeps(engine, gh, "burndown", enqueued.append))
    assert again is None and len(enqueued) == 1


def test_a_pull_request_label_is_ignored(engine: Engine) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): "write"}), []
    p = labeled()
    p["issue"]["pull_request"] = {"url": "x"}
    record_delivery(engine, "d1", "issues", "labeled", json.dumps(p))
    status = process_delivery("d1", IntakeDeps(engine, gh, "burndown", enqueued.append))
    assert status == DeliveryStatus.IGNORED and enqueued == []


def test_a_harness_label_is_a_trigger(engine: Engine) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): "write"}), []
    assert deliver(engine, gh, enqueued, "d1", label="burndown:codex") == DeliveryStatus.PROCESSED
    ticket = find_ticket(engine, REPO, 1)
    assert ticket is not None and enqueued == [ticket.id] and gh.comments == []


@pytest.mark.parametrize(
    ("label", "body", "says"),
    [
        ("burndown:nonesuch", "fix it", "label 'burndown:nonesuch' names an unknown harness"),
        ("burndown", "fix it\nburndown: `gpt-cli`\n", "issue body line"),
    ],
)
def test_an_unknown_harness_choice_gets_a_comment_and_no_run(
    engine: Engine, label: str, body: str, says: str
) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): "write"}), []
    status = deliver(engine, gh, enqueued, "d1", label=label, body=body)
    assert status == DeliveryStatus.REJECTED and enqueued == []
    ((_, number, comment),) = gh.comments
    assert number == 1 and says in comment
    assert "valid: aider, claude-code, codex, mini-swe-agent" in comment


def test_another_prefixed_label_is_not_a_trigger(engine: Engine) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): "write"}), []
    assert deliver(engine, gh, enqueued, "d1", label="burndownish") == DeliveryStatus.IGNORED
    assert enqueued == []


@pytest.mark.parametrize(
    ("event", "text"),
    [
        ("issues", "{not json"),
        ("issues", "\ufeff" + json.dumps(labeled())),
        ("issues", json.dumps({**labeled(), "issue": {**labeled()["issue"], "number": "1"}})),
        ("issues", json.dumps({**labeled(), "sender": None})),
        ("check_run", json.dumps({"action": "completed", "check_run": []})),
        ("issues", '{"action": "labeled", "x": ' + "[" * 100 + "]" * 100 + "}"),
    ],
)
def test_a_stored_body_that_does_not_read_is_a_recorded_refusal(
    engine: Engine, event: str, text: str
) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): "write"}), []
    record_delivery(engine, "d1", event, "labeled", text)
    status = process_delivery("d1", IntakeDeps(engine, gh, "burndown", enqueued.append))
    assert status == DeliveryStatus.IGNORED and enqueued == []
    d = get_delivery(engine, "d1")
    assert d is not None and d.status == DeliveryStatus.IGNORED and d.note.startswith("refused")
    assert process_delivery("d1", IntakeDeps(engine, gh, "burndown", enqueued.append)) is None


def test_the_label_pins_the_text_and_a_new_label_pins_it_again(engine: Engine) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): "write"}), []
    assert deliver(engine, gh, enqueued, "d1", body="first text") == DeliveryStatus.PROCESSED
    pinned = find_ticket(engine, REPO, 1)
    assert pinned is not None and pinned.body == "first text"
    deliver(engine, gh, enqueued, "d2", label="burndown:codex", body="second text", title="T2")
    again = find_ticket(engine, REPO, 1)
    assert again is not None and (again.title, again.body) == ("T2", "second text")


def test_a_hidden_harness_line_is_not_a_choice_at_label_time(engine: Engine) -> None:
    gh, enqueued = FakeGitHub(roles={(REPO, "Codertocat"): "write"}), []
    body = "fix it\n<!--\nharness: nonesuch\n-->\n"
    assert deliver(engine, gh, enqueued, "d1", body=body) == DeliveryStatus.PROCESSED
    assert gh.comments == [] and len(enqueued) == 1
