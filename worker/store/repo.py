"""Reads and writes of the store. Claims are single UPDATE statements, so they are atomic."""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from worker.errors import DuplicateError, StoreError
from worker.store.db import session_scope
from worker.store.models import (
    Delivery,
    DeliveryStatus,
    EventSource,
    Outcome,
    OutcomeKind,
    Provider,
    ReviewVerdict,
    Run,
    RunEvent,
    RunKind,
    RunStatus,
    Ticket,
    TicketStatus,
    utcnow,
)
from worker.store.rollup import refresh_run

ACTIVE = (TicketStatus.QUEUED, TicketStatus.RUNNING)


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to keep: its id (`X-GitHub-Delivery`), event, action, body and body digest."""

    id: str
    event: str
    action: str | None
    payload: str
    body_sha256: str | None = None


@cache
def _insert_deliveries(dialect: str) -> Any:
    """One statement for any batch (compiled once, then cached by the engine): executed with
    many rows, SQLAlchemy sends them as one multi-row INSERT ... RETURNING."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = Delivery.__table__  # type: ignore[attr-defined]
    return insert(table).on_conflict_do_nothing().returning(table.c.id)


def record_deliveries(engine: Engine | Connection, deliveries: Sequence[NewDelivery]) -> set[str]:
    """Keep deliveries with one INSERT in one transaction; the ids actually kept. One whose id
    (a redelivery) or body digest (a replay under a new id) was seen before is skipped by the
    unique constraints (ON CONFLICT DO NOTHING): no read first, no lock between callers. A
    connection (one a writer keeps) is used as it is, without a checkout from the pool."""
    if not deliveries:
        return set()
    now = utcnow()
    rows = [
        {
            "id": d.id,
            "event": d.event,
            "action": d.action,
            "payload": d.payload,
            "body_sha256": d.body_sha256,
            "status": DeliveryStatus.RECEIVED,
            "note": "",
            "received_at": now,
        }
        for d in deliveries
    ]
    stmt = _insert_deliveries(engine.dialect.name)
    try:
        if isinstance(engine, Connection):
            with engine.begin():
                return set(engine.execute(stmt, rows).scalars())
        with engine.begin() as conn:
            return set(conn.execute(stmt, rows).scalars())
    except SQLAlchemyError as exc:
        raise StoreError(f"store error: {exc.__class__.__name__}: {exc}") from exc


def record_delivery(
    engine: Engine,
    delivery_id: str,
    event: str,
    action: str | None,
    payload: str,
    body_sha256: str | None = None,
) -> bool:
    """Keep one delivery; False when its id or its body's digest was seen before."""
    new = NewDelivery(delivery_id, event, action, payload, body_sha256)
    return bool(record_deliveries(engine, [new]))


def get_delivery(engine: Engine, delivery_id: str) -> Delivery | None:
    with session_scope(engine) as s:
        return s.get(Delivery, delivery_id)


def close_delivery(
    engine: Engine, delivery_id: str, status: DeliveryStatus, note: str, ticket_id: int | None
) -> None:
    with session_scope(engine) as s:
        d = s.get(Delivery, delivery_id)
        if d is None:
            raise StoreError(f"no delivery {delivery_id}")
        d.status, d.note, d.ticket_id, d.processed_at = status, note, ticket_id, utcnow()
        s.add(d)


def upsert_ticket(
    engine: Engine,
    repo: str,
    number: int,
    *,
    title: str,
    body: str,
    url: str,
    labeled_by: str | None,
    provider: Provider = Provider.GITHUB,
) -> Ticket:
    """The ticket for an issue, created or refreshed with the issue's current text."""
    for _ in range(2):  # a concurrent insert of the same issue wins once; then we update
        try:
            with session_scope(engine) as s:
                t = s.exec(
                    select(Ticket).where(
                        Ticket.provider == provider, Ticket.repo == repo, Ticket.number == number
                    )
                ).first()
                if t is None:
                    t = Ticket(provider=provider, repo=repo, number=number)
                t.title, t.body, t.url, t.updated_at = title, body, url, utcnow()
                t.labeled_by = labeled_by or t.labeled_by
                s.add(t)
                s.flush()
                s.refresh(t)
                return t
        except DuplicateError:
            continue
    raise StoreError(f"could not record ticket {repo}#{number}")


def get_ticket(engine: Engine, ticket_id: int) -> Ticket | None:
    with session_scope(engine) as s:
        return s.get(Ticket, ticket_id)


def find_ticket(
    engine: Engine, repo: str, number: int, provider: Provider = Provider.GITHUB
) -> Ticket | None:
    with session_scope(engine) as s:
        return s.exec(
            select(Ticket).where(
                Ticket.provider == provider, Ticket.repo == repo, Ticket.number == number
            )
        ).first()


def queue_ticket(
    engine: Engine,
    ticket_id: int,
    *,
    kind: RunKind = RunKind.INITIAL,
    feedback: str | None = None,
    requested_by: str | None = None,
) -> bool:
    """Mark a ticket queued unless it already is queued or running. True if this call did it.
    The kind and feedback are what the next run of the ticket will do."""
    with session_scope(engine) as s:
        res = s.exec(
            update(Ticket)
            .where(col(Ticket.id) == ticket_id, col(Ticket.status).not_in(ACTIVE))
            .values(
                status=TicketStatus.QUEUED,
                queued_at=utcnow(),
                updated_at=utcnow(),
                pending_kind=kind,
                pending_feedback=feedback,
                pending_by=requested_by,
            )
        )
        return bool(res.rowcount == 1)


def start_run(
    engine: Engine, ticket_id: int, *, harness: str, model: str | None, branch: str
) -> Run | None:
    """Claim a queued ticket and open a run; None when another worker has it or it is done."""
    with session_scope(engine) as s:
        res = s.exec(
            update(Ticket)
            .where(col(Ticket.id) == ticket_id, col(Ticket.status) == TicketStatus.QUEUED)
            .values(
                status=TicketStatus.RUNNING,
                attempts=Ticket.attempts + 1,
                updated_at=utcnow(),
            )
        )
        if res.rowcount != 1:
            return None
        t = s.get(Ticket, ticket_id)
        assert t is not None
        s.refresh(t)
        run = Run(
            ticket_id=ticket_id,
            harness=harness,
            model=model,
            branch=branch,
            kind=t.pending_kind,
            feedback=t.pending_feedback,
            requested_by=t.pending_by or t.labeled_by,
        )
        s.add(run)
        s.flush()
        s.refresh(run)
        refresh_run(s, run)
        return run


def set_run_choice(engine: Engine, run_id: int, harness: str, model: str | None) -> None:
    """Record the harness and model a run resolved to once the repository's config was read."""
    with session_scope(engine) as s:
        run = s.get(Run, run_id)
        if run is None:
            raise StoreError(f"no run {run_id}")
        run.harness, run.model = harness, model
        s.add(run)
        refresh_run(s, run)


@dataclass(frozen=True)
class NewEvent:
    """An event to append to a run: where it came from, its kind, its JSON data."""

    source: EventSource
    kind: str
    data: dict[str, Any]


def append_events(engine: Engine, run_id: int, events: Iterable[NewEvent]) -> None:
    """Append events to a run, numbered after the ones already stored."""
    batch = list(events)
    if not batch:
        return
    with session_scope(engine) as s:
        last = s.exec(select(func.max(RunEvent.seq)).where(RunEvent.run_id == run_id)).one()
        seq = (last or 0) + 1
        for i, e in enumerate(batch):
            s.add(
                RunEvent(
                    run_id=run_id,
                    seq=seq + i,
                    source=e.source,
                    kind=e.kind,
                    data=json.dumps(e.data, default=str),
                )
            )


def run_events(engine: Engine, run_id: int) -> Sequence[RunEvent]:
    with session_scope(engine) as s:
        return s.exec(
            select(RunEvent).where(RunEvent.run_id == run_id).order_by(col(RunEvent.seq))
        ).all()


@dataclass(frozen=True)
class RunResult:
    """What the pipeline learned, to be written when a run ends."""

    outcome: OutcomeKind
    detail: str = ""
    exit_code: int | None = None
    pr_url: str | None = None
    pr_number: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None
    retry: bool = False
    """The sandbox could not start before the agent began: the ticket may run again."""


def finish_run(engine: Engine, run_id: int, result: RunResult) -> Outcome:
    """Close a run, its ticket and record its outcome, in one transaction; idempotent."""
    with session_scope(engine) as s:
        return finish_run_in(s, run_id, result)


def finish_run_in(s: Session, run_id: int, result: RunResult) -> Outcome:
    """`finish_run` inside the caller's transaction (to settle the ticket in the same one)."""
    failed = result.outcome in (OutcomeKind.FAILED, OutcomeKind.REFUSED, OutcomeKind.BUDGET)
    run = s.get(Run, run_id)
    if run is None:
        raise StoreError(f"no run {run_id}")
    existing = s.exec(select(Outcome).where(Outcome.run_id == run_id)).first()
    if existing is not None:
        # Closed already (the reconciler gave it up): keep that outcome, but record a pull
        # request it still opened, so follow-ups on it are not ignored.
        if result.pr_url and run.pr_url is None:
            run.pr_url, run.pr_number = result.pr_url, result.pr_number
            existing.detail = f"{existing.detail}; it still opened {result.pr_url}"
            s.add_all([run, existing])
        return existing
    cancelled = result.outcome == OutcomeKind.CANCELLED
    run.status = (
        RunStatus.CANCELLED if cancelled else RunStatus.FAILED if failed else RunStatus.SUCCEEDED
    )
    run.finished_at = utcnow()
    run.error = result.detail if failed else None
    run.exit_code, run.pr_url, run.pr_number = result.exit_code, result.pr_url, result.pr_number
    run.input_tokens, run.output_tokens = result.input_tokens, result.output_tokens
    run.cached_tokens, run.cost_usd = result.cached_tokens, result.cost_usd
    ticket = s.get(Ticket, run.ticket_id)
    if ticket is not None:
        ticket.status = (
            TicketStatus.CANCELLED
            if cancelled
            else TicketStatus.FAILED
            if failed
            else TicketStatus.DONE
        )
        ticket.updated_at = utcnow()
        s.add(ticket)
    outcome = Outcome(
        run_id=run_id,
        ticket_id=run.ticket_id,
        kind=result.outcome,
        detail=result.detail,
        pr_url=result.pr_url,
    )
    s.add_all([run, outcome])
    s.flush()
    s.refresh(outcome)
    refresh_run(s, run)
    return outcome


def count_runs(engine: Engine, ticket_id: int, kind: RunKind) -> int:
    with session_scope(engine) as s:
        return int(
            s.exec(
                select(func.count())
                .select_from(Run)
                .where(Run.ticket_id == ticket_id, Run.kind == kind)
            ).one()
        )


def ticket_for_pull(engine: Engine, repo: str, pr_number: int) -> Ticket | None:
    """The ticket whose run opened pull request `pr_number` in `repo`."""
    with session_scope(engine) as s:
        return s.exec(
            select(Ticket)
            .join(Run, col(Run.ticket_id) == col(Ticket.id))
            .where(Ticket.repo == repo, Run.pr_number == pr_number)
        ).first()


def mark_run(
    engine: Engine,
    run_id: int,
    *,
    verified: bool,
    draft: bool,
    review_verdict: ReviewVerdict | None,
) -> None:
    """Record what the checks of a run's change found: whether the tests verified it, whether
    its pull request is a draft, and the reviewer's verdict (None: no reviewer)."""
    with session_scope(engine) as s:
        run = s.get(Run, run_id)
        if run is None:
            raise StoreError(f"no run {run_id}")
        run.verified, run.draft, run.review_verdict = verified, draft, review_verdict
        s.add(run)


def run_is_live(engine: Engine, run_id: str) -> bool | None:
    """For the sandbox reaper: True while the run is open, False once it is over or unknown to
    this store, None when the id is not one of the store's (`burndown sandbox run`'s)."""
    if not run_id.isdigit():
        return None
    with session_scope(engine) as s:
        run = s.get(Run, int(run_id))
        return run is not None and run.status == RunStatus.RUNNING
