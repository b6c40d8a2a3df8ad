"""Liveness in the store: run deadlines and heartbeats, cancel requests, the reconciler's
re-sends with backoff, and dead letters.

A run is alive while its worker beats; the reconciler closes only runs whose heartbeat stopped
(or that outlived their deadline by far). A message is re-sent only when it was never picked
up, with a growing wait between sends; what keeps failing becomes a dead letter, kept with its
reason and retried only by hand.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from worker.errors import StoreError
from worker.store.db import session_scope
from worker.store.models import (
    CancelRequest,
    Delivery,
    DeliveryStatus,
    Outcome,
    Run,
    RunStatus,
    Ticket,
    TicketStatus,
    utcnow,
)
from worker.store.repo import RunResult, finish_run_in


def backoff(base: float, sends: int, cap: float) -> timedelta:
    """The wait before send number `sends + 1`: `base`, doubled each time, at most `cap`."""
    return timedelta(seconds=min(cap, base * (2 ** min(sends, 30))))


def begin(engine: Engine, run_id: int, *, deadline: datetime, worker: str) -> None:
    """Record the run's deadline and worker, and its first heartbeat."""
    with session_scope(engine) as s:
        s.exec(
            update(Run)
            .where(col(Run.id) == run_id)
            .values(deadline_at=deadline, worker=worker, heartbeat_at=utcnow())
        )


def beat(engine: Engine, run_id: int) -> tuple[bool, CancelRequest | None]:
    """One heartbeat: (whether the run is still open, the cancel request it has, if any).
    A run the reconciler already closed is not revived."""
    with session_scope(engine) as s:
        res = s.exec(
            update(Run)
            .where(col(Run.id) == run_id, col(Run.status) == RunStatus.RUNNING)
            .values(heartbeat_at=utcnow())
        )
        run = s.get(Run, run_id)
        if run is None:
            raise StoreError(f"no run {run_id}")
        request = run.cancel_requested
        return res.rowcount == 1, request


@dataclass(frozen=True)
class Cancelled:
    """What a cancel request found: a queued ticket (now cancelled), a running run (asked to
    stop), or nothing to stop."""

    ticket_id: int
    state: str  # "queued", "running" or "idle"
    run_id: int | None = None


def request_cancel(engine: Engine, ticket_id: int, reason: str) -> Cancelled:
    """Stop a ticket: a queued one is cancelled at once; a running run is asked to stop, and
    its heartbeat kills its sandbox within seconds."""
    with session_scope(engine) as s:
        res = s.exec(
            update(Ticket)
            .where(col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.QUEUED)
            .values(status=TicketStatus.CANCELLED, updated_at=utcnow())
        )
        if res.rowcount == 1:
            return Cancelled(ticket_id, "queued")
        run = s.exec(
            select(Run).where(Run.ticket_id == ticket_id, Run.status == RunStatus.RUNNING)
        ).first()
        if run is None or run.id is None:
            return Cancelled(ticket_id, "idle")
        run.cancel_requested, run.cancel_reason = CancelRequest.CANCEL, reason
        s.add(run)
        return Cancelled(ticket_id, "running", run.id)


def request_requeue(engine: Engine, worker: str) -> list[int]:
    """Ask every open run of `worker` (which is shutting down) to stop and be queued again."""
    with session_scope(engine) as s:
        runs = s.exec(
            select(Run).where(Run.worker == worker, Run.status == RunStatus.RUNNING)
        ).all()
        for run in runs:
            if run.cancel_requested is None:
                run.cancel_requested = CancelRequest.REQUEUE
                run.cancel_reason = "the worker running it is shutting down"
                s.add(run)
        return [r.id for r in runs if r.id is not None]


def lost_runs(engine: Engine, *, silent_since: datetime, now: datetime) -> list[int]:
    """Open runs whose worker stopped beating before `silent_since` (a run that never beat
    counts from its start), or whose deadline passed long ago (`now`)."""
    with session_scope(engine) as s:
        runs = s.exec(select(Run).where(Run.status == RunStatus.RUNNING)).all()
    return [
        r.id
        for r in runs
        if r.id is not None
        and (
            _aware(r.heartbeat_at or r.started_at) < silent_since
            or (r.deadline_at is not None and _aware(r.deadline_at) < now)
        )
    ]


def due_deliveries(
    engine: Engine, *, now: datetime, first_wait: float, cap: float, max_attempts: int
) -> tuple[list[str], list[str]]:
    """Deliveries never handled whose wait is over: (to send again, now dead letters). The API
    sent each once when it arrived; every re-send waits twice as long as the one before. Only a
    delivery whose handling failed (it carries the error) becomes a dead letter after
    `max_attempts` re-sends: one merely waiting behind a burst in the intake queue is sent
    again ever more rarely, never given up on (as a waiting ticket)."""
    send: list[str] = []
    dead: list[str] = []
    with session_scope(engine) as s:
        rows = s.exec(select(Delivery).where(Delivery.status == DeliveryStatus.RECEIVED)).all()
        for d in rows:
            due = d.next_attempt_at or (_aware(d.received_at) + timedelta(seconds=first_wait))
            if _aware(due) > now:
                continue
            if d.attempts >= max_attempts and d.note:
                d.status = DeliveryStatus.DEAD
                d.note = f"not handled after {d.attempts} re-sends: {d.note}".strip(": ")
                d.processed_at = now
                dead.append(d.id)
            else:
                d.attempts += 1
                d.next_attempt_at = now + backoff(first_wait, d.attempts, cap)
                send.append(d.id)
            s.add(d)
    return send, dead


def due_tickets(engine: Engine, *, now: datetime, first_wait: float, cap: float) -> list[int]:
    """Queued tickets no worker claimed whose wait is over, to send again. A ticket may wait
    behind busy run slots for long, so waiting alone never makes it a dead letter; the waits
    only grow."""
    out: list[int] = []
    with session_scope(engine) as s:
        rows = s.exec(select(Ticket).where(Ticket.status == TicketStatus.QUEUED)).all()
        for t in rows:
            start = t.queued_at or t.updated_at
            due = t.next_send_at or (_aware(start) + timedelta(seconds=first_wait))
            if _aware(due) > now or t.id is None:
                continue
            t.sends += 1
            t.next_send_at = now + backoff(first_wait, t.sends, cap)
            s.add(t)
            out.append(t.id)
    return out


def record_failure(engine: Engine, delivery_id: str, error: str) -> None:
    """Note why handling a delivery failed; it stays to be re-sent (or dead-lettered)."""
    with session_scope(engine) as s:
        d = s.get(Delivery, delivery_id)
        if d is not None and d.status == DeliveryStatus.RECEIVED:
            d.note = error[:2000]
            s.add(d)


@dataclass(frozen=True)
class DeadLetter:
    """A delivery or ticket given up on, and why."""

    kind: str  # "delivery" or "ticket"
    id: str
    reason: str
    at: datetime | None


def dead_letters(engine: Engine) -> list[DeadLetter]:
    """Every dead letter, deliveries first."""
    with session_scope(engine) as s:
        ds = s.exec(select(Delivery).where(Delivery.status == DeliveryStatus.DEAD)).all()
        ts = s.exec(select(Ticket).where(Ticket.status == TicketStatus.DEAD)).all()
    return [DeadLetter("delivery", d.id, d.note, d.processed_at) for d in ds] + [
        DeadLetter("ticket", str(t.id), t.dead_reason or "", t.updated_at) for t in ts
    ]


def retry_dead(engine: Engine, kind: str, ident: str) -> bool:
    """Give a dead letter another chance (attempts reset); True if there was one."""
    with session_scope(engine) as s:
        if kind == "delivery":
            d = s.get(Delivery, ident)
            if d is None or d.status != DeliveryStatus.DEAD:
                return False
            d.status, d.attempts, d.next_attempt_at = DeliveryStatus.RECEIVED, 0, None
            d.processed_at = None
            s.add(d)
            return True
        t = s.get(Ticket, int(ident)) if ident.isdigit() else None
        if t is None or t.status != TicketStatus.DEAD:
            return False
        t.status, t.attempts, t.sends = TicketStatus.QUEUED, 0, 0
        t.queued_at, t.next_send_at, t.dead_reason = utcnow(), None, None
        s.add(t)
        return True


def settle_ticket(
    engine: Engine, ticket_id: int, *, requeue: bool, max_attempts: int, reason: str
) -> TicketStatus:
    """After a run was lost or stopped for its worker: queue the ticket again, or, when its
    runs were lost `max_attempts` times, make it a dead letter."""
    with session_scope(engine) as s:
        return _settle_in(s, ticket_id, requeue=requeue, max_attempts=max_attempts, reason=reason)


def _settle_in(
    s: Session, ticket_id: int, *, requeue: bool, max_attempts: int, reason: str
) -> TicketStatus:
    t = s.get(Ticket, ticket_id)
    if t is None:
        raise StoreError(f"no ticket {ticket_id}")
    if t.status in (TicketStatus.QUEUED, TicketStatus.CANCELLED):
        return TicketStatus(t.status)
    if requeue and t.attempts < max_attempts:
        t.status, t.queued_at, t.next_send_at, t.sends = TicketStatus.QUEUED, utcnow(), None, 0
    elif requeue:
        t.status, t.dead_reason = TicketStatus.DEAD, reason
    t.updated_at = utcnow()
    s.add(t)
    return TicketStatus(t.status)


def close_lost_run(
    engine: Engine, run_id: int, result: RunResult, *, max_attempts: int, reason: str
) -> tuple[int, TicketStatus] | None:
    """Close a lost run and queue its ticket again (or make it a dead letter) in one
    transaction: no moment where the ticket looks `failed`, and no crash in between that
    leaves it so. None if the run was closed meanwhile (its worker finished it)."""
    with session_scope(engine) as s:
        run = s.get(Run, run_id)
        if run is None or run.status != RunStatus.RUNNING:
            return None
        outcome = finish_run_in(s, run_id, result)
        status = _settle_in(
            s, outcome.ticket_id, requeue=True, max_attempts=max_attempts, reason=reason
        )
        return outcome.ticket_id, status


def requeue(engine: Engine, ticket_id: int) -> bool:
    """Queue again a ticket whose run was stopped because its worker shut down."""
    with session_scope(engine) as s:
        res = s.exec(
            update(Ticket)
            .where(col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.CANCELLED)
            .values(
                status=TicketStatus.QUEUED,
                queued_at=utcnow(),
                next_send_at=None,
                sends=0,
                updated_at=utcnow(),
            )
        )
        return bool(res.rowcount == 1)


def finish_and_requeue(engine: Engine, run_id: int, result: RunResult) -> Outcome:
    """Close a run stopped because its worker is shutting down and queue its ticket again, in
    one transaction (a worker killed in between would leave the ticket `cancelled`)."""
    with session_scope(engine) as s:
        outcome = finish_run_in(s, run_id, result)
        t = s.get(Ticket, outcome.ticket_id)
        if t is not None and t.status == TicketStatus.CANCELLED:
            t.status, t.queued_at, t.next_send_at, t.sends = TicketStatus.QUEUED, utcnow(), None, 0
            t.updated_at = utcnow()
            s.add(t)
        return outcome


def finish_and_retry(
    engine: Engine, run_id: int, result: RunResult, *, max_attempts: int, reason: str
) -> tuple[Outcome, TicketStatus]:
    """Close a run that could not start its sandbox and queue its ticket again (the reconciler
    sends it after its backoff), or make it a dead letter after `max_attempts` runs; one
    transaction."""
    with session_scope(engine) as s:
        outcome = finish_run_in(s, run_id, result)
        status = _settle_in(
            s, outcome.ticket_id, requeue=True, max_attempts=max_attempts, reason=reason
        )
        return outcome, status


def _aware(t: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they are UTC."""
    from datetime import UTC

    return t if t.tzinfo else t.replace(tzinfo=UTC)
