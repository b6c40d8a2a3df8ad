"""Liveness in the store, on SQLite and PostgreSQL: heartbeats, cancel requests, re-sends with
backoff, dead letters, lost runs."""

import itertools
from datetime import timedelta

from sqlalchemy import Engine

from worker.store import liveness
from worker.store.models import CancelRequest, DeliveryStatus, OutcomeKind, TicketStatus, utcnow
from worker.store.repo import (
    RunResult,
    finish_run,
    get_delivery,
    get_ticket,
    queue_ticket,
    record_delivery,
    start_run,
    upsert_ticket,
)


def _running(engine: Engine, number: int = 1) -> tuple[int, int]:
    t = upsert_ticket(engine, "o/r", number, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(engine, t.id)
    run = start_run(engine, t.id, harness="h", model=None, branch="b")
    assert run is not None and run.id is not None
    return t.id, run.id


def test_a_beat_reports_cancel_requests_and_never_revives_a_closed_run(engine: Engine) -> None:
    tid, rid = _running(engine)
    liveness.begin(engine, rid, deadline=utcnow() + timedelta(minutes=5), worker="w1")
    assert liveness.beat(engine, rid) == (True, None)
    found = liveness.request_cancel(engine, tid, "asked")
    assert found.state == "running" and found.run_id == rid
    assert liveness.beat(engine, rid) == (True, CancelRequest.CANCEL)
    finish_run(engine, rid, RunResult(outcome=OutcomeKind.FAILED, detail="lost"))
    assert liveness.beat(engine, rid)[0] is False


def test_a_queued_ticket_is_cancelled_at_once(engine: Engine) -> None:
    t = upsert_ticket(engine, "o/r", 2, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(engine, t.id)
    assert liveness.request_cancel(engine, t.id, "label removed").state == "queued"
    got = get_ticket(engine, t.id)
    assert got is not None and got.status == TicketStatus.CANCELLED
    assert start_run(engine, t.id, harness="h", model=None, branch="b") is None
    assert liveness.request_cancel(engine, t.id, "again").state == "idle"


def test_only_runs_whose_heartbeat_stopped_are_lost(engine: Engine) -> None:
    _, quiet = _running(engine, 1)
    _, beating = _running(engine, 2)
    now = utcnow()
    liveness.begin(engine, quiet, deadline=now + timedelta(hours=1), worker="w")
    liveness.begin(engine, beating, deadline=now + timedelta(hours=1), worker="w")
    later = now + timedelta(seconds=120)
    liveness.beat(engine, beating)  # beats "now"; the quiet one last beat at begin
    assert liveness.lost_runs(engine, silent_since=now - timedelta(seconds=1), now=now) == []
    lost = liveness.lost_runs(engine, silent_since=later - timedelta(seconds=90), now=later)
    assert set(lost) == {quiet, beating}  # neither beat within the last 90 s of `later`
    liveness.beat(engine, beating)
    lost = liveness.lost_runs(engine, silent_since=utcnow() - timedelta(seconds=30), now=utcnow())
    assert lost == []


def test_a_run_past_its_deadline_is_lost_even_if_it_beats(engine: Engine) -> None:
    _, rid = _running(engine)
    liveness.begin(engine, rid, deadline=utcnow() - timedelta(seconds=1), worker="w")
    liveness.beat(engine, rid)
    assert liveness.lost_runs(engine, silent_since=utcnow() - timedelta(hours=1), now=utcnow()) == [
        rid
    ]


def test_deliveries_are_resent_with_growing_waits_then_dead(engine: Engine) -> None:
    assert record_delivery(engine, "d1", "issues", "labeled", "{}")
    liveness.record_failure(engine, "d1", "GitHubError: 502 Bad Gateway")
    now = utcnow()
    kw = {"first_wait": 10.0, "cap": 1000.0, "max_attempts": 3}
    assert liveness.due_deliveries(engine, now=now, **kw) == ([], [])  # the API just sent it
    sent_at = []
    t = now + timedelta(seconds=11)
    for _ in range(80):
        sent, dead = liveness.due_deliveries(engine, now=t, **kw)
        if sent:
            sent_at.append(t)
        if dead:
            break
        t += timedelta(seconds=5)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent_at)]
    assert len(sent_at) == 3 and gaps == sorted(gaps) and gaps[0] >= 20
    d = get_delivery(engine, "d1")
    assert d is not None and d.status == DeliveryStatus.DEAD and "re-sends" in d.note
    assert [x.id for x in liveness.dead_letters(engine)] == ["d1"]
    assert liveness.retry_dead(engine, "delivery", "d1")
    d = get_delivery(engine, "d1")
    assert d is not None and d.status == DeliveryStatus.RECEIVED and d.attempts == 0


def test_a_waiting_ticket_is_resent_ever_more_rarely_and_never_dead(engine: Engine) -> None:
    t = upsert_ticket(engine, "o/r", 5, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(engine, t.id)
    now, sends = utcnow(), 0
    for minute in range(1, 121):
        sends += len(
            liveness.due_tickets(
                engine, now=now + timedelta(minutes=minute), first_wait=60, cap=3600
            )
        )
    assert 3 <= sends <= 8  # every minute would have been 120
    got = get_ticket(engine, t.id)
    assert got is not None and got.status == TicketStatus.QUEUED


def test_a_ticket_whose_runs_keep_dying_becomes_a_dead_letter(engine: Engine) -> None:
    tid, rid = _running(engine)
    for attempt in range(1, 4):
        finish_run(engine, rid, RunResult(outcome=OutcomeKind.FAILED, detail="lost"))
        status = liveness.settle_ticket(engine, tid, requeue=True, max_attempts=3, reason="x")
        if attempt < 3:
            assert status == TicketStatus.QUEUED
            run = start_run(engine, tid, harness="h", model=None, branch="b")
            assert run is not None and run.id is not None
            rid = run.id
        else:
            assert status == TicketStatus.DEAD
    assert [d.kind for d in liveness.dead_letters(engine)] == ["ticket"]
    assert liveness.retry_dead(engine, "ticket", str(tid))
    got = get_ticket(engine, tid)
    assert got is not None and got.status == TicketStatus.QUEUED


def test_shutdown_asks_only_that_workers_runs_to_requeue(engine: Engine) -> None:
    tid1, r1 = _running(engine, 1)
    _, r2 = _running(engine, 2)
    liveness.begin(engine, r1, deadline=utcnow(), worker="a@h")
    liveness.begin(engine, r2, deadline=utcnow(), worker="b@h")
    assert liveness.request_requeue(engine, "a@h") == [r1]
    assert liveness.beat(engine, r1)[1] == CancelRequest.REQUEUE
    assert liveness.beat(engine, r2)[1] is None
    finish_run(engine, r1, RunResult(outcome=OutcomeKind.CANCELLED, detail="shutdown"))
    assert liveness.requeue(engine, tid1)
    got = get_ticket(engine, tid1)
    assert got is not None and got.status == TicketStatus.QUEUED


def test_a_closed_run_that_still_opens_a_pull_request_records_it(engine: Engine) -> None:
    _, rid = _running(engine)
    first = finish_run(engine, rid, RunResult(outcome=OutcomeKind.FAILED, detail="lost"))
    again = finish_run(
        engine,
        rid,
        RunResult(outcome=OutcomeKind.PR_OPENED, pr_url="https://x/pull/9", pr_number=9),
    )
    assert again.kind == OutcomeKind.FAILED and again.id == first.id
    assert "https://x/pull/9" in again.detail


def test_a_run_stopped_for_shutdown_is_closed_and_requeued_at_once(engine: Engine) -> None:
    tid, rid = _running(engine)
    out = liveness.finish_and_requeue(
        engine, rid, RunResult(outcome=OutcomeKind.CANCELLED, detail="queued again")
    )
    assert out.kind == OutcomeKind.CANCELLED
    got = get_ticket(engine, tid)
    assert got is not None and got.status == TicketStatus.QUEUED
    # the reconciler closed it first and queued the ticket: nothing changes
    tid2, rid2 = _running(engine, 2)
    lost = RunResult(outcome=OutcomeKind.FAILED, detail="lost")
    liveness.close_lost_run(engine, rid2, lost, max_attempts=3, reason="r")
    again = liveness.finish_and_requeue(
        engine, rid2, RunResult(outcome=OutcomeKind.CANCELLED, detail="queued again")
    )
    assert again.kind == OutcomeKind.FAILED
    got = get_ticket(engine, tid2)
    assert got is not None and got.status == TicketStatus.QUEUED


def test_a_delivery_waiting_behind_a_burst_is_never_dead(engine: Engine) -> None:
    # The intake queue holds a thousand deliveries: not handled yet is not lost.
    assert record_delivery(engine, "d2", "issues", "labeled", "{}")
    kw = {"first_wait": 2.0, "cap": 4.0, "max_attempts": 3}
    t, sends = utcnow(), 0
    for _ in range(200):
        t += timedelta(seconds=1)
        sent, dead = liveness.due_deliveries(engine, now=t, **kw)
        assert dead == []
        sends += len(sent)
    d = get_delivery(engine, "d2")
    assert d is not None and d.status == DeliveryStatus.RECEIVED and d.attempts == sends
    assert sends <= 200 / 4 + 2  # no more often than the cap
