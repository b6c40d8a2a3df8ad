"""Polling: a trigger label found by reading the issue list becomes the delivery a webhook
would have been, handled by the real intake; never twice, whichever way it arrived."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from scheduler.intake.polling import PollCounts, PollDeps, poll_repositories
from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from tests.support.github_standin import labeled
from worker.github.fake import FakeGitHub
from worker.github.protocol import Issue, LabelEvent
from worker.store.models import DeliveryStatus, TicketStatus
from worker.store.polling import get_cursor
from worker.store.repo import find_ticket, get_delivery, record_delivery

REPO = "acme/widgets"


def _world(at: datetime, by: str = "maria", role: str = "maintain") -> FakeGitHub:
    gh = FakeGitHub(roles={(REPO, by): role})
    gh.issues[(REPO, 7)] = Issue(
        repo=REPO,
        number=7,
        title="Fix the typo",
        body="It says Teh.",
        url=f"https://github.test/{REPO}/issues/7",
        author="sam",
        state="open",
        labels=["bug", "burndown"],
        updated_at=at,
    )
    gh.events[(REPO, 7)] = [LabelEvent(id=501, label="burndown", actor=by, created_at=at)]
    return gh


def _poll(engine: Engine, gh: FakeGitHub, sent: list[str]) -> PollCounts:
    return poll_repositories(PollDeps(engine, gh, "burndown", sent.append), [REPO])


def _handle(engine: Engine, gh: FakeGitHub, delivery: str, runs: list[int]) -> None:
    process_delivery(delivery, IntakeDeps(engine, gh, "burndown", runs.append))


def test_a_polled_label_queues_the_ticket_with_the_labeller_as_sender(engine: Engine) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    gh, sent, runs = _world(now), list[str](), list[int]()
    counts = _poll(engine, gh, sent)
    assert counts.delivered == sent == [f"poll:{REPO}#7:labeled:501"]
    stored = get_delivery(engine, sent[0])
    assert stored is not None and json.loads(stored.payload)["sender"]["login"] == "maria"
    _handle(engine, gh, sent[0], runs)
    ticket = find_ticket(engine, REPO, 7)
    assert ticket is not None and ticket.status == TicketStatus.QUEUED
    assert ticket.labeled_by == "maria" and runs == [ticket.id]
    cursor = get_cursor(engine, f"github-issues:{REPO}")
    assert cursor is not None and cursor.etag is not None

    again = _poll(engine, gh, sent)  # nothing changed: a 304
    assert again.not_modified == 1 and again.delivered == [] and len(sent) == 1


def test_the_trust_check_applies_to_whoever_labelled(engine: Engine) -> None:
    now = datetime.now(UTC)
    gh, sent, runs = _world(now, by="drive-by", role="read"), list[str](), list[int]()
    _poll(engine, gh, sent)
    _handle(engine, gh, sent[0], runs)
    d = get_delivery(engine, sent[0])
    assert d is not None and d.status == DeliveryStatus.REJECTED and runs == []
    assert "@drive-by" in gh.comments[0][2]


def test_a_label_a_webhook_already_brought_is_not_delivered_again(engine: Engine) -> None:
    now = datetime.now(UTC)
    gh, sent = _world(now), list[str]()
    body = labeled(repo=REPO, number=7, sender="maria", title="Fix the typo", body="x")
    record_delivery(engine, "gh-guid-1", "issues", "labeled", json.dumps(body))
    assert _poll(engine, gh, sent).delivered == [] and sent == []


def test_a_label_whose_ticket_ran_is_left_alone_until_it_is_added_again(engine: Engine) -> None:
    then = datetime.now(UTC) - timedelta(minutes=10)
    gh, sent, runs = _world(then), list[str](), list[int]()
    _poll(engine, gh, sent)
    _handle(engine, gh, sent[0], runs)
    gh.etags[REPO] = 'W/"changed"'  # something else changed on the issue
    gh.issues[(REPO, 7)] = gh.issues[(REPO, 7)].model_copy(update={"updated_at": then})
    assert _poll(engine, gh, sent).delivered == []
    # Labelled again later (removed and re-added): a new event, a new delivery.
    later = datetime.now(UTC) + timedelta(seconds=30)
    gh.events[(REPO, 7)].append(
        LabelEvent(id=777, label="burndown", actor="maria", created_at=later)
    )
    gh.issues[(REPO, 7)] = gh.issues[(REPO, 7)].model_copy(update={"updated_at": later})
    gh.etags[REPO] = 'W/"changed again"'
    assert _poll(engine, gh, sent).delivered == [f"poll:{REPO}#7:labeled:777"]


def test_issues_unchanged_since_the_last_poll_cost_no_event_reads(engine: Engine) -> None:
    then = datetime.now(UTC) - timedelta(hours=1)
    gh, sent = _world(then), list[str]()
    gh.issues[(REPO, 7)] = gh.issues[(REPO, 7)].model_copy(update={"labels": ["bug"]})
    _poll(engine, gh, sent)
    gh.fail["label_events"] = "no event reads expected"
    gh.etags[REPO] = 'W/"another issue changed"'
    assert _poll(engine, gh, sent).errors == []


def test_a_failing_repository_does_not_stop_the_others(engine: Engine) -> None:
    gh, sent = _world(datetime.now(UTC)), list[str]()
    gh.fail["open_issues"] = "GitHub answered 502"
    counts = _poll(engine, gh, sent)
    assert counts.errors == [f"{REPO}: GitHub answered 502"] and sent == []
