"""The rollups are kept by the store's own writes (start, choice, finish, pull request
observations, reverts): after each, what they hold equals a full rebuild, and the report read
from them equals the reference over every row. SQLite and PostgreSQL."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import Engine, select

from scheduler.report.attribution import derive
from scheduler.report.fromstore import store_report
from scheduler.report.history import load_history
from scheduler.report.report import ReportQuery, report_of
from tests.support.history import build_random
from tests.support.same import same
from worker.store.lifecycle import PullObservation, mark_reverted, observe_pull
from worker.store.migrate import alembic_config, upgrade
from worker.store.models import AgentPull, OutcomeKind, PullRollup, PullState, TicketRollup
from worker.store.repo import (
    RunResult,
    finish_run,
    queue_ticket,
    set_run_choice,
    start_run,
    upsert_ticket,
)
from worker.store.rollup import rebuild

REPO = "acme/app"


def _snapshot(engine: Engine) -> tuple[list[Any], list[Any]]:
    with engine.connect() as conn:
        pulls = conn.execute(
            select(PullRollup.__table__).order_by("repo", "number")  # type: ignore[arg-type]
        ).all()
        tickets = conn.execute(
            select(TicketRollup.__table__).order_by("ticket_id")  # type: ignore[arg-type]
        ).all()
    return [tuple(r)[1:] for r in pulls], [tuple(r) for r in tickets]


def _kept_equals_rebuilt(engine: Engine) -> None:
    kept = _snapshot(engine)
    with engine.begin() as conn:
        rebuild(conn)
    assert _snapshot(engine) == kept
    q = ReportQuery(runs_shown=10)
    now = datetime.now(UTC) + timedelta(days=1)
    same(report_of(derive(load_history(engine)), q, now), store_report(engine, q, now))


def _run(engine: Engine, ticket_id: int, harness: str, pr: int | None) -> int:
    assert queue_ticket(engine, ticket_id)
    run = start_run(engine, ticket_id, harness="pending", model=None, branch="burndown/x")
    assert run is not None and run.id is not None
    set_run_choice(engine, run.id, harness, "m-" + harness)
    time.sleep(0.01)  # distinct start and finish times
    kind = OutcomeKind.PR_OPENED if pr else OutcomeKind.NO_CHANGES
    finish_run(engine, run.id, RunResult(kind, pr_number=pr, cost_usd=0.5, input_tokens=10))
    return run.id


def test_the_store_writes_keep_the_rollups(engine: Engine) -> None:
    t1 = upsert_ticket(engine, REPO, 1, title="a", body="", url="u1", labeled_by="maria").id
    t2 = upsert_ticket(engine, REPO, 2, title="b", body="", url="u2", labeled_by="maria").id
    assert t1 is not None and t2 is not None
    _run(engine, t1, "codex", None)
    _kept_equals_rebuilt(engine)
    first = _run(engine, t1, "claude-code", 11)  # opens pull request 11
    _kept_equals_rebuilt(engine)
    now = datetime.now(UTC)
    merged = PullObservation(REPO, 11, PullState.MERGED, now, merged_at=now, closed_at=now)
    observe_pull(engine, merged)
    _kept_equals_rebuilt(engine)
    _run(engine, t1, "codex", 11)  # after the merge: the merge stays credited to `first`
    with engine.connect() as conn:
        credited = conn.execute(select(PullRollup.run_id)).scalar_one()
    assert credited == first
    _kept_equals_rebuilt(engine)
    with engine.connect() as conn:
        pull_id = conn.execute(select(AgentPull.id)).scalar_one()
    assert mark_reverted(engine, pull_id, "f" * 40, now + timedelta(hours=1))
    _kept_equals_rebuilt(engine)
    _run(engine, t2, "aider", 12)
    later = now + timedelta(hours=2)
    observe_pull(engine, PullObservation(REPO, 12, PullState.CLOSED, later, closed_at=later))
    observe_pull(engine, PullObservation(REPO, 12, PullState.OPEN, later + timedelta(hours=1)))
    _kept_equals_rebuilt(engine)
    with engine.connect() as conn:
        states = dict(conn.execute(select(PullRollup.number, PullRollup.state)).all())
    assert states == {11: "reverted", 12: "open"}


def test_the_migration_fills_the_rollups_of_an_existing_store(
    engine: Engine, store_url: str
) -> None:
    build_random(engine, 5, tickets=25)
    kept = _snapshot(engine)
    assert kept[0] and kept[1]
    command.downgrade(alembic_config(store_url), "0003")  # a store from before the rollups
    upgrade(store_url)
    assert _snapshot(engine) == kept
