"""Polling follow-up comments: a trusted `/burndown ...` on the agent's pull request queues a
follow-up through the real follow-up handler, once, whether a webhook brought it too or not."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from scheduler.intake.polling import PollDeps, poll_repositories
from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from tests.scheduler.test_followups import PR, REPO, agent_ticket, comment
from worker.github.fake import FakeGitHub
from worker.github.protocol import IssueComment
from worker.store.models import RunKind, TicketStatus
from worker.store.repo import get_ticket, record_delivery


def _comment(
    cid: int, body: str, at: datetime, who: str = "maria", pull: bool = True
) -> IssueComment:
    return IssueComment(id=cid, number=PR, body=body, author=who, is_pull=pull, updated_at=at)


def _poll(engine: Engine, gh: FakeGitHub, sent: list[str]) -> list[str]:
    counts = poll_repositories(PollDeps(engine, gh, "burndown", sent.append), [REPO])
    assert counts.errors == []
    return counts.delivered


def test_a_polled_command_queues_a_follow_up_once(engine: Engine) -> None:
    ticket_id = agent_ticket(engine)
    gh, sent, runs = FakeGitHub(roles={(REPO, "maria"): "maintain"}), list[str](), list[int]()
    assert _poll(engine, gh, sent) == []  # the first poll starts the cursor, replays nothing
    later = datetime.now(UTC) + timedelta(seconds=1)
    gh.issue_comments[REPO] = [
        _comment(11, "/burndown please add a test", later),
        _comment(12, "looks good", later),  # not a command
        _comment(13, "/burndown on an issue", later, pull=False),  # not on a pull request
    ]
    assert _poll(engine, gh, sent) == [f"poll:{REPO}:comment:11"]
    process_delivery(sent[0], IntakeDeps(engine, gh, "burndown", runs.append))
    ticket = get_ticket(engine, ticket_id)
    assert ticket is not None and ticket.status == TicketStatus.QUEUED
    assert ticket.pending_kind == RunKind.FOLLOWUP
    assert ticket.pending_feedback == "please add a test" and ticket.pending_by == "maria"
    assert runs == [ticket_id]
    assert _poll(engine, gh, sent) == [] and len(sent) == 1  # seen: never twice


def test_a_comment_a_webhook_brought_is_not_delivered_again(engine: Engine) -> None:
    agent_ticket(engine)
    gh, sent = FakeGitHub(roles={(REPO, "maria"): "maintain"}), list[str]()
    _poll(engine, gh, sent)
    webhook = comment("/burndown please add a test")
    webhook["comment"]["id"] = 21
    record_delivery(engine, "gh-guid", "issue_comment", "created", json.dumps(webhook))
    gh.issue_comments[REPO] = [_comment(21, "/burndown please add a test", datetime.now(UTC))]
    assert _poll(engine, gh, sent) == [] and sent == []
