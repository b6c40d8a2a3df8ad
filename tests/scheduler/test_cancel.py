"""Stopping tickets from real webhook payloads: the trigger label removed, the issue closed,
or `/burndown stop` from a trusted person; a queued ticket is cancelled at once, a running
run is asked to stop (its heartbeat does the rest)."""

from typing import Any

from sqlalchemy import Engine

from scheduler.intake.table import screen
from tests.scheduler.test_followups import REPO, Intake, comment
from tests.support.github_standin import payload
from worker.store import liveness
from worker.store.models import CancelRequest, DeliveryStatus, TicketStatus
from worker.store.repo import get_ticket, queue_ticket, start_run, upsert_ticket

ISSUE = 1


def _ticket(engine: Engine, *, running: bool) -> tuple[int, int | None]:
    t = upsert_ticket(engine, REPO, ISSUE, title="t", body="b", url="u", labeled_by="maria")
    assert t.id is not None and queue_ticket(engine, t.id)
    if not running:
        return t.id, None
    run = start_run(engine, t.id, harness="claude-code", model=None, branch="burndown/issue-1")
    assert run is not None
    return t.id, run.id


def unlabeled(label: str = "burndown", left: list[str] | None = None) -> dict[str, Any]:
    p = payload("issues", "unlabeled")
    p["label"]["name"], p["issue"]["number"] = label, ISSUE
    p["issue"]["labels"] = [{"name": n, "color": "fff", "id": 1} for n in left or []]
    return p


def closed() -> dict[str, Any]:
    p = payload("issues", "reopened")  # the same shape GitHub sends for `closed`
    p["action"], p["issue"]["number"], p["issue"]["state"] = "closed", ISSUE, "closed"
    return p


def test_removing_the_label_cancels_a_queued_ticket_and_says_so(engine: Engine) -> None:
    tid, _ = _ticket(engine, running=False)
    intake = Intake(engine, {})
    assert intake.deliver("issues", unlabeled()) == DeliveryStatus.PROCESSED
    t = get_ticket(engine, tid)
    assert t is not None and t.status == TicketStatus.CANCELLED
    assert "will not work on this issue" in intake.gh.comments[-1][2]


def test_closing_the_issue_asks_a_running_run_to_stop(engine: Engine) -> None:
    _, run_id = _ticket(engine, running=True)
    intake = Intake(engine, {})
    assert intake.deliver("issues", closed()) == DeliveryStatus.PROCESSED
    assert run_id is not None
    assert liveness.beat(engine, run_id) == (True, CancelRequest.CANCEL)


def test_stop_from_a_trusted_person_only(engine: Engine) -> None:
    _, run_id = _ticket(engine, running=True)
    stop = comment("/burndown stop")
    stop["issue"]["number"], stop["issue"]["pull_request"] = ISSUE, None  # on the issue itself
    assert screen("issue_comment", stop, "burndown").keep
    intake = Intake(engine, {"eve": "read", "maria": "maintain"})
    stop["comment"]["user"]["login"] = "eve"
    assert intake.deliver("issue_comment", stop) == DeliveryStatus.REJECTED
    assert run_id is not None and liveness.beat(engine, run_id)[1] is None
    stop["comment"]["user"]["login"] = "maria"
    assert intake.deliver("issue_comment", stop) == DeliveryStatus.PROCESSED
    assert liveness.beat(engine, run_id)[1] == CancelRequest.CANCEL


def test_other_labels_and_remaining_triggers_are_not_a_stop(engine: Engine) -> None:
    assert not screen("issues", unlabeled("bug"), "burndown").keep
    assert not screen("issues", unlabeled("burndown", ["burndown:codex"]), "burndown").keep
    assert screen("issues", unlabeled("burndown:codex", ["bug"]), "burndown").keep
