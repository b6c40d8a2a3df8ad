"""The store on SQLite and PostgreSQL: migrations match the models, claims are exclusive."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text, update
from sqlmodel import SQLModel, col

from worker.errors import DuplicateError, StoreError
from worker.store.db import session_scope
from worker.store.models import (
    EventSource,
    OutcomeKind,
    ReviewVerdict,
    Run,
    RunKind,
    RunStatus,
    Ticket,
    TicketStatus,
)
from worker.store.repo import (
    NewEvent,
    RunResult,
    append_events,
    finish_run,
    get_ticket,
    mark_run,
    queue_ticket,
    record_delivery,
    run_events,
    start_run,
    upsert_ticket,
)


def _ticket(engine: Engine, number: int = 7) -> int:
    t = upsert_ticket(
        engine, "octo/repo", number, title="Fix", body="b", url="u", labeled_by="alice"
    )
    assert t.id is not None
    return t.id


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_a_delivery_is_recorded_once(engine: Engine) -> None:
    assert record_delivery(engine, "d-1", "issues", "labeled", "{}") is True
    assert record_delivery(engine, "d-1", "issues", "labeled", "{}") is False


def test_upsert_keeps_one_ticket_per_issue(engine: Engine) -> None:
    a = _ticket(engine)
    b = upsert_ticket(engine, "octo/repo", 7, title="New title", body="", url="u", labeled_by=None)
    assert b.id == a and b.title == "New title" and b.labeled_by == "alice"


def test_a_ticket_is_queued_once_and_claimed_once(engine: Engine) -> None:
    tid = _ticket(engine)
    with ThreadPoolExecutor(8) as pool:
        queued = list(pool.map(lambda _: queue_ticket(engine, tid), range(8)))
    assert queued.count(True) == 1
    with ThreadPoolExecutor(8) as pool:
        runs = list(
            pool.map(
                lambda _: start_run(engine, tid, harness="h", model=None, branch="b"), range(8)
            )
        )
    assert sum(r is not None for r in runs) == 1
    assert queue_ticket(engine, tid) is False  # running: a second label does not queue it


def test_finishing_a_run_records_one_outcome(engine: Engine) -> None:
    tid = _ticket(engine)
    queue_ticket(engine, tid)
    run = start_run(engine, tid, harness="claude-code", model=None, branch="b")
    assert run is not None and run.id is not None
    append_events(engine, run.id, [NewEvent("harness", "assistant_text", {"text": "hi"})])
    append_events(engine, run.id, [NewEvent("pipeline", "stage", {"stage": "clone"})])
    assert [e.seq for e in run_events(engine, run.id)] == [1, 2]
    result = RunResult(outcome=OutcomeKind.PR_OPENED, pr_url="http://pr/1", input_tokens=5)
    first = finish_run(engine, run.id, result)
    again = finish_run(engine, run.id, RunResult(outcome=OutcomeKind.FAILED))
    assert again.id == first.id and again.kind == OutcomeKind.PR_OPENED
    ticket = get_ticket(engine, tid)
    assert ticket is not None and ticket.status == TicketStatus.DONE
    assert queue_ticket(engine, tid) is True  # done tickets may be labelled again


def test_a_unique_constraint_hit_is_a_duplicate_error(engine: Engine) -> None:
    _ticket(engine)
    with pytest.raises(DuplicateError), session_scope(engine) as s:
        s.add(Ticket(repo="octo/repo", number=7))
    record_delivery(engine, "d-1", "issues", "labeled", "{}")
    with pytest.raises(DuplicateError), session_scope(engine) as s:
        s.execute(
            text(
                "INSERT INTO delivery (id, event, payload, status, note, received_at) "
                "VALUES ('d-1', 'issues', '{}', 'received', '', CURRENT_TIMESTAMP)"
            )
        )


def test_other_integrity_errors_are_not_duplicates(engine: Engine) -> None:
    with pytest.raises(StoreError) as raised, session_scope(engine) as s:
        s.add(Run(ticket_id=404, harness="h", branch="b"))  # no such ticket
    assert not isinstance(raised.value, DuplicateError)


def test_enum_columns_read_back_as_members_of_the_same_varchar_values(engine: Engine) -> None:
    tid = _ticket(engine)
    queue_ticket(engine, tid, kind=RunKind.FOLLOWUP, feedback="rename it")
    run = start_run(engine, tid, harness="h", model=None, branch="b")
    assert run is not None and run.id is not None
    append_events(engine, run.id, [NewEvent(EventSource.REVIEW, "result", {})])
    mark_run(engine, run.id, verified=False, draft=True, review_verdict=ReviewVerdict.DOUBT)
    finish_run(engine, run.id, RunResult(outcome=OutcomeKind.PR_DRAFT))
    with session_scope(engine) as s:
        stored = s.get(Run, run.id)
        raw = s.execute(
            text("SELECT kind, status, review_verdict FROM run WHERE id = :id"), {"id": run.id}
        ).one()
    assert stored is not None
    assert (stored.kind, stored.status, stored.review_verdict) == tuple(raw)
    assert tuple(raw) == ("followup", "succeeded", "doubt")
    assert type(stored.kind) is RunKind and type(stored.status) is RunStatus
    assert type(stored.review_verdict) is ReviewVerdict and stored.draft is True
    assert type(run_events(engine, run.id)[0].source) is EventSource


def test_a_value_outside_its_enum_is_refused(engine: Engine) -> None:
    tid = _ticket(engine)
    with pytest.raises(StoreError), session_scope(engine) as s:
        s.execute(update(Ticket).where(col(Ticket.id) == tid).values(status="finished"))
    ticket = get_ticket(engine, tid)
    assert ticket is not None and ticket.status is TicketStatus.NEW
