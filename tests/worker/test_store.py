"""The store on SQLite and PostgreSQL: migrations match the models, claims are exclusive."""

from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

from worker.store.models import OutcomeKind, TicketStatus
from worker.store.repo import (
    NewEvent,
    RunResult,
    append_events,
    finish_run,
    get_ticket,
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
