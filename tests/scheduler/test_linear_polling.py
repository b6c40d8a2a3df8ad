"""Polling Linear with the fake client: a trigger label found on a mapped team's issue becomes
the delivery a webhook would have been (who added it from the issue's history), handled by
the same intake; polling and webhooks never start a ticket twice; a failing team does not
stop the others; the cursor moves."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from scheduler.intake.linear.polling import poll_linear, teams_of
from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from worker.github.fake import FakeGitHub
from worker.github.protocol import Repository
from worker.linear.fake import FakeLinear
from worker.linear.protocol import LabelAdded, LinearIssue, LinearTeam, LinearUser
from worker.store.models import DeliveryStatus, Provider, TicketStatus
from worker.store.polling import get_cursor
from worker.store.repo import get_delivery, record_delivery
from worker.store.trackers import find_tracker_ticket
from worker.tracker import LinearTrust

REPO = "acme/widgets"
T0 = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def _world() -> tuple[FakeLinear, FakeGitHub]:
    fake = FakeLinear()
    fake.users["u-maria"] = LinearUser(id="u-maria", name="Maria", email="maria@acme.test")
    fake.issues["i-1"] = LinearIssue(
        id="i-1",
        identifier="ENG-1",
        number=1,
        title="Fix the typo",
        description="It says Teh.",
        url="https://linear.app/acme/issue/ENG-1",
        team=LinearTeam(id="t-eng", key="ENG"),
        state_type="unstarted",
        labels=["bug", "burndown"],
        updated_at=T0 + timedelta(minutes=1),
    )
    fake.history["i-1"] = [
        LabelAdded(id="h-1", actor_id="u-maria", labels=["burndown"], created_at=T0)
    ]
    gh = FakeGitHub(repos={REPO: Repository(full_name=REPO, clone_url="x", default_branch="main")})
    return fake, gh


def _intake(engine: Engine, fake: FakeLinear, gh: FakeGitHub, runs: list[int]) -> IntakeDeps:
    return IntakeDeps(
        engine,
        gh,
        "burndown",
        runs.append,
        linear=fake,
        linear_repos={"ENG": REPO},
        linear_trust=LinearTrust(),
    )


def test_a_polled_label_becomes_a_ticket_once(sqlite_engine: Engine) -> None:
    fake, gh = _world()
    sent: list[str] = []
    counts = poll_linear(sqlite_engine, fake, ["ENG"], "burndown", sent.append)
    assert counts.delivered == sent == ["linear-poll:i-1:h-1"]
    runs: list[int] = []
    assert process_delivery(sent[0], _intake(sqlite_engine, fake, gh, runs)) == (
        DeliveryStatus.PROCESSED
    )
    ticket = find_tracker_ticket(sqlite_engine, Provider.LINEAR, "i-1")
    assert ticket is not None and ticket.status == TicketStatus.QUEUED and len(runs) == 1
    assert ticket.labeled_by == "u-maria"
    again = poll_linear(sqlite_engine, fake, ["ENG"], "burndown", sent.append)
    assert again.delivered == [] and len(sent) == 1
    cursor = get_cursor(sqlite_engine, "linear-issues:ENG")
    assert cursor is not None and cursor.seen_until is not None


def test_a_webhook_after_the_poll_and_a_poll_after_the_webhook_start_nothing(
    sqlite_engine: Engine,
) -> None:
    fake, gh = _world()
    runs: list[int] = []
    deps = _intake(sqlite_engine, fake, gh, runs)
    webhook = {
        "type": "Issue",
        "action": "update",
        "actor": {"id": "u-maria"},
        "data": {
            "id": "i-1",
            "identifier": "ENG-1",
            "updatedAt": T0.isoformat().replace("+00:00", "Z"),
            "labelIds": ["l-bug", "l-bd"],
            "labels": [{"id": "l-bug", "name": "bug"}, {"id": "l-bd", "name": "burndown"}],
        },
        "updatedFrom": {"labelIds": ["l-bug"]},
    }
    record_delivery(sqlite_engine, "linear:w1", "linear.Issue", "update", json.dumps(webhook))
    assert process_delivery("linear:w1", deps) == DeliveryStatus.PROCESSED
    sent: list[str] = []
    assert poll_linear(sqlite_engine, fake, ["ENG"], "burndown", sent.append).delivered == []
    # the same label event polled by a second beat before the ticket existed: intake refuses
    record_delivery(sqlite_engine, "linear:w2", "linear.Issue", "update", json.dumps(webhook))
    assert process_delivery("linear:w2", deps) == DeliveryStatus.IGNORED
    d = get_delivery(sqlite_engine, "linear:w2")
    assert d is not None and "acted on" in d.note and len(runs) == 1


def test_one_failing_team_does_not_stop_the_others(sqlite_engine: Engine) -> None:
    fake, _ = _world()
    fake.fail["label_history"] = "Linear answered 500"
    counts = poll_linear(sqlite_engine, fake, ["ENG", "OPS"], "burndown", lambda _: None)
    assert counts.teams == 2 and counts.delivered == [] and counts.errors[0].startswith("ENG:")
    assert teams_of({"ENG": "a/b", "eng/api": "a/c", "OPS": "a/d"}) == ["ENG", "OPS"]
