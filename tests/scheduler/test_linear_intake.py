"""Linear intake with the fake Linear client: a trusted member's trigger label or delegation
becomes a ticket of the mapped repository, queued once; refusals are said on the issue (or
the session) and recorded; a stop cancels. Bodies are the stand-in's (shaped as Linear's)."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from tests.support.linear_standin import LinearStandIn
from tests.support.linear_standin.state import Issue, User
from worker.github.fake import FakeGitHub
from worker.github.protocol import Repository
from worker.linear.fake import FakeLinear
from worker.linear.protocol import LinearIssue, LinearTeam, LinearUser
from worker.store.models import DeliveryStatus, Provider, TicketStatus
from worker.store.repo import get_delivery, get_ticket, record_delivery
from worker.store.trackers import find_tracker_ticket
from worker.tracker import LinearTrust

REPO = "acme/widgets"


@pytest.fixture(scope="module")
def linear() -> Iterator[LinearStandIn]:
    yield LinearStandIn()  # only its workspace and webhook bodies; no server needed


class World:
    def __init__(self, engine: Engine, standin: LinearStandIn, *, guest: bool = False) -> None:
        self.engine, self.standin = engine, standin
        self.team = standin.add_team("ENG", "Engineering")
        self.maria = standin.add_user("Maria Lopez", "maria@acme.test", guest=guest)
        self.agent = standin.add_user("Burndown", "agent@apps.test", app=True)
        self.fake = FakeLinear()
        self.gh = FakeGitHub(
            repos={REPO: Repository(full_name=REPO, clone_url="x", default_branch="main")}
        )
        self.enqueued: list[int] = []
        self.user(self.maria)

    def user(self, u: User) -> None:
        self.fake.users[u.id] = LinearUser(id=u.id, name=u.name, email=u.email, guest=u.guest)

    def issue(self, description: str = "It says Teh.") -> Issue:
        issue = self.standin.create_issue(self.team, "Fix the typo", description, self.maria)
        self.fake.issues[issue.id] = LinearIssue(
            id=issue.id,
            identifier=issue.identifier,
            number=issue.number,
            title=issue.title,
            description=description,
            url=issue.url,
            team=LinearTeam(id=self.team.id, key="ENG"),
            state_type="unstarted",
            labels=["burndown"],
        )
        return issue

    def deliver(self, payload: dict[str, Any], delivery: str, **deps: Any) -> DeliveryStatus:
        record_delivery(
            self.engine, delivery, f"linear.{payload['type']}", None, json.dumps(payload)
        )
        intake = IntakeDeps(
            self.engine,
            self.gh,
            "burndown",
            self.enqueued.append,
            linear=deps.get("linear", self.fake),
            linear_repos=deps.get("repos", {"ENG": REPO}),
            linear_trust=LinearTrust(),
        )
        status = process_delivery(delivery, intake)
        assert status is not None
        return status


def test_a_trusted_label_queues_a_linear_ticket_of_the_mapped_repository(
    sqlite_engine: Engine, linear: LinearStandIn
) -> None:
    w = World(sqlite_engine, linear)
    issue = w.issue()
    payload = linear.label(issue, "burndown", w.maria)
    assert w.deliver(payload, "l1") == DeliveryStatus.PROCESSED
    ticket = find_tracker_ticket(sqlite_engine, Provider.LINEAR, issue.id)
    assert ticket is not None and ticket.status == TicketStatus.QUEUED
    assert (ticket.repo, ticket.tracker_key, ticket.number) == (REPO, issue.identifier, 1)
    assert w.enqueued == [ticket.id]
    (status,) = w.fake.comments_on(issue.id)
    assert "queued" in status and "<!--" not in status
    w.deliver(linear.label(issue, "other", w.maria), "l2")  # not the trigger label
    assert w.deliver(payload, "l3") == DeliveryStatus.IGNORED  # the same label, again
    assert w.enqueued == [ticket.id]
    d = get_delivery(sqlite_engine, "l3")
    assert d is not None and d.note == "this label was acted on already"


def test_a_guests_label_is_refused_with_a_comment(
    sqlite_engine: Engine, linear: LinearStandIn
) -> None:
    w = World(sqlite_engine, linear, guest=True)
    issue = w.issue()
    assert w.deliver(linear.label(issue, "burndown", w.maria), "g1") == DeliveryStatus.REJECTED
    assert (
        w.enqueued == [] and find_tracker_ticket(sqlite_engine, Provider.LINEAR, issue.id) is None
    )
    (said,) = w.fake.comments_on(issue.id)
    assert "Maria Lopez" in said and "trusts" in said
    d = get_delivery(sqlite_engine, "g1")
    assert d is not None and "guest" in d.note


def test_an_unmapped_team_and_an_unreachable_repository_are_said(
    sqlite_engine: Engine, linear: LinearStandIn
) -> None:
    w = World(sqlite_engine, linear)
    unmapped = w.issue()
    status = w.deliver(linear.label(unmapped, "burndown", w.maria), "u1", repos={})
    assert status == DeliveryStatus.REJECTED
    assert "repo: owner/name" in w.fake.comments_on(unmapped.id)[0]
    elsewhere = w.issue("Details.\n\nrepo: acme/nowhere\n")
    status = w.deliver(linear.label(elsewhere, "burndown", w.maria), "u2")
    assert status == DeliveryStatus.REJECTED and w.enqueued == []
    assert "acme/nowhere" in w.fake.comments_on(elsewhere.id)[0]


def test_without_linear_configured_a_delivery_is_recorded_as_refused(
    sqlite_engine: Engine, linear: LinearStandIn
) -> None:
    w = World(sqlite_engine, linear)
    issue = w.issue()
    assert w.deliver(linear.label(issue, "burndown", w.maria), "n1", linear=None) == (
        DeliveryStatus.REJECTED
    )
    d = get_delivery(sqlite_engine, "n1")
    assert d is not None and "BURNDOWN_LINEAR_API_KEY" in d.note


def test_a_delegation_acknowledges_first_then_queues_and_a_stop_cancels(
    sqlite_engine: Engine, linear: LinearStandIn
) -> None:
    w = World(sqlite_engine, linear)
    issue = w.issue()
    created = linear.delegate(issue, w.maria, w.agent)
    session = created["agentSession"]["id"]
    assert w.deliver(created, "s1") == DeliveryStatus.PROCESSED
    kinds = [c["type"] for s, c in w.fake.activities if s == session]
    assert kinds == ["thought", "action"]  # picked up, then the queued status
    ticket = find_tracker_ticket(sqlite_engine, Provider.LINEAR, issue.id)
    assert ticket is not None and ticket.agent_session_id == session
    assert w.fake.comments_on(issue.id) == []  # a session hears through activities only
    stop = linear.prompt(session, w.maria, "Stop", signal="stop")
    assert w.deliver(stop, "s2") == DeliveryStatus.PROCESSED
    assert ticket.id is not None
    after = get_ticket(sqlite_engine, ticket.id)
    assert after is not None and after.status == TicketStatus.CANCELLED
    assert [c["type"] for s, c in w.fake.activities if s == session][-1] == "response"


def test_a_prompt_queues_a_run_and_one_while_busy_is_answered(
    sqlite_engine: Engine, linear: LinearStandIn
) -> None:
    w = World(sqlite_engine, linear)
    mallory = linear.add_user("Mallory Guest", "mallory@elsewhere.test", guest=True)
    w.user(mallory)
    issue = w.issue()
    created = linear.delegate(issue, w.maria, w.agent)
    session = created["agentSession"]["id"]
    w.deliver(created, "p1")
    w.deliver(linear.prompt(session, w.maria, "Stop", signal="stop"), "p2")
    again = linear.prompt(session, w.maria, "Please try again, and fix the other typo too.")
    assert w.deliver(again, "p3") == DeliveryStatus.PROCESSED
    ticket = find_tracker_ticket(sqlite_engine, Provider.LINEAR, issue.id)
    assert ticket is not None and ticket.status == TicketStatus.QUEUED
    assert ticket.pending_feedback == "Please try again, and fix the other typo too."
    assert ticket.pending_by == w.maria.id and len(w.enqueued) == 2
    busy = linear.prompt(session, w.maria, "And another thing")
    assert w.deliver(busy, "p4") == DeliveryStatus.IGNORED
    assert "still working" in w.fake.activities[-1][1]["body"]
    assert w.deliver(linear.prompt(session, mallory, "Do my bidding"), "p5") == (
        DeliveryStatus.REJECTED
    )
    assert len(w.enqueued) == 2
