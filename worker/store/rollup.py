"""The pull request rollup (`PullRollup`): each agent pull request with the run it is attributed
to, kept up to date by the writes that change it, so the report never re-derives it from every
run.

The rules are the README's ("Outcomes and metrics"): a pull request is opened when the first run
naming it finished and belongs to that run's ticket; it is attributed to the last run that
started before it merged (the last run, if it did not merge); a merge later reverted counts as
`reverted`. Every function here recomputes from the source rows, so calling it twice is safe.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from worker.store.models import AgentPull, PullRollup, PullState, Run, Ticket


@dataclass(frozen=True)
class _PullRun:
    id: int
    ticket_id: int
    harness: str
    model: str | None
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class _Life:
    state: str
    merged_at: datetime | None
    reverted_at: datetime | None
    reopened_count: int


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _opt(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)


def rollup_values(
    repo: str, number: int, runs: Sequence[_PullRun], life: _Life | None
) -> dict[str, Any]:
    """The rollup row of one pull request from its runs (by start, then id) and lifecycle."""
    state = life.state if life else PullState.OPEN.value
    merged_at = life.merged_at if life and state == PullState.MERGED else None
    if merged_at is not None and life is not None and life.reverted_at is not None:
        state = "reverted"
    before = [r for r in runs if merged_at is None or r.started_at <= merged_at] or list(runs)
    first, credited = runs[0], before[-1]
    return {
        "repo": repo,
        "number": number,
        "ticket_id": first.ticket_id,
        "opened_at": first.finished_at or first.started_at,
        "first_started_at": first.started_at,
        "first_run_id": first.id,
        "run_id": credited.id,
        "harness": credited.harness,
        "model": credited.model,
        "state": state,
        "merged_at": merged_at,
        "reopened_count": life.reopened_count if life else 0,
    }


_RUN_COLUMNS = (Run.id, Run.ticket_id, Run.harness, Run.model, Run.started_at, Run.finished_at)
_LIFE_COLUMNS = (
    AgentPull.repo,
    AgentPull.number,
    AgentPull.state,
    AgentPull.merged_at,
    AgentPull.reverted_at,
    AgentPull.reopened_count,
)


def _run(row: Any) -> _PullRun:
    i, t, h, m, sa, fa = row
    return _PullRun(i, t, h, m, _aware(sa), _opt(fa))


def _life(row: Any) -> _Life:
    return _Life(row[2], _opt(row[3]), _opt(row[4]), row[5])


def _pull_runs(conn: Connection, repo: str | None, number: int | None) -> Any:
    q = (
        select(col(Ticket.repo), col(Run.pr_number), *(col(c) for c in _RUN_COLUMNS))
        .join(Ticket, col(Ticket.id) == col(Run.ticket_id))
        .where(col(Run.pr_number).is_not(None))
        .order_by(col(Run.started_at), col(Run.id))
    )
    if repo is not None and number is not None:
        q = q.where(col(Ticket.repo) == repo, col(Run.pr_number) == number)
    return conn.execute(q).all()


def _compute(conn: Connection, repo: str, number: int) -> dict[str, Any] | None:
    runs = [_run(r[2:]) for r in _pull_runs(conn, repo, number)]
    if not runs:
        return None
    found = conn.execute(
        select(*(col(c) for c in _LIFE_COLUMNS)).where(
            col(AgentPull.repo) == repo, col(AgentPull.number) == number
        )
    ).first()
    return rollup_values(repo, number, runs, _life(found) if found else None)


def refresh_pull(s: Session, repo: str, number: int) -> None:
    """Recompute the rollup row of `repo#number` inside the caller's transaction. The row is
    created first and locked, so concurrent writers of one pull request take turns (on
    PostgreSQL; SQLite has one writer) and the last one reads every committed run."""
    s.flush()
    conn = s.connection()
    values = _compute(conn, repo, number)
    if values is None:
        conn.execute(delete(PullRollup).where(_is(repo, number)))
        return
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(make(PullRollup).values(**values).on_conflict_do_nothing())
    conn.execute(select(col(PullRollup.id)).where(_is(repo, number)).with_for_update())
    fresh = _compute(conn, repo, number) or values
    conn.execute(PullRollup.__table__.update().where(_is(repo, number)).values(**fresh))  # type: ignore[attr-defined]


def _is(repo: str, number: int) -> Any:
    return (col(PullRollup.repo) == repo) & (col(PullRollup.number) == number)


def refresh_run_pull(s: Session, run: Run) -> None:
    """Refresh the pull request a run names, if it names one."""
    if run.pr_number is None:
        return
    ticket = s.get(Ticket, run.ticket_id)
    if ticket is not None:
        refresh_pull(s, ticket.repo, run.pr_number)


def rebuild_pulls(conn: Connection) -> int:
    """Recompute every rollup row from the runs and lifecycles (migration, bulk loads);
    returns how many pull requests there are."""
    by_pull: dict[tuple[str, int], list[_PullRun]] = defaultdict(list)
    for row in _pull_runs(conn, None, None):
        by_pull[(row[0], row[1])].append(_run(row[2:]))
    lives = {(r[0], r[1]): _life(r) for r in conn.execute(select(*(col(c) for c in _LIFE_COLUMNS)))}
    rows = [rollup_values(k[0], k[1], rs, lives.get(k)) for k, rs in by_pull.items()]
    conn.execute(delete(PullRollup))
    for chunk in _chunks(rows):
        conn.execute(insert(PullRollup), chunk)
    return len(rows)


def _chunks(rows: list[dict[str, Any]], size: int = 5000) -> Iterable[list[dict[str, Any]]]:
    return (rows[i : i + size] for i in range(0, len(rows), size))
