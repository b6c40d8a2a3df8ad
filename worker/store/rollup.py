"""The rollups the report reads (`PullRollup`, `TicketRollup`), kept up to date by the writes
that change them, so a report never re-derives them from every run.

The rules are the README's ("Outcomes and metrics"): a pull request is opened when the first run
naming it finished and belongs to that run's ticket; it is attributed to the last run that
started before it merged (the last run, if it did not merge); a merge later reverted counts as
`reverted`. A ticket is resolved by its earliest kept merge. Every function here recomputes
from the source rows, so calling it twice is safe.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from worker.store.models import AgentPull, PullRollup, PullState, Run, Ticket, TicketRollup

ITEM, PART = "\x1e", "\x1f"  # between the items of a rollup text; between an item's parts
_US = timedelta(microseconds=1)


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
    repo: str, number: int, runs: Sequence[_PullRun], life: _Life | None, labelled: datetime
) -> dict[str, Any]:
    """The rollup row of one pull request from its runs (by start, then id), lifecycle and
    its ticket's first labelling."""
    state = life.state if life else PullState.OPEN.value
    merged_at = life.merged_at if life and state == PullState.MERGED else None
    if merged_at is not None and life is not None and life.reverted_at is not None:
        state = "reverted"
    before = [r for r in runs if merged_at is None or r.started_at <= merged_at] or list(runs)
    first, credited = runs[0], before[-1]
    opened = first.finished_at or first.started_at
    kept = state == PullState.MERGED and merged_at is not None
    return {
        "repo": repo,
        "number": number,
        "ticket_id": first.ticket_id,
        "opened_at": opened,
        "first_started_at": first.started_at,
        "first_run_id": first.id,
        "run_id": credited.id,
        "harness": credited.harness,
        "model": credited.model,
        "state": state,
        "merged_at": merged_at,
        "reopened_count": life.reopened_count if life else 0,
        "to_pr_us": (opened - labelled) // _US,
        "to_merge_us": (merged_at - opened) // _US if kept and merged_at else None,
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


def _labelled(conn: Connection, ids: Iterable[int] | None) -> dict[int, datetime]:
    q = select(col(Ticket.id), col(Ticket.created_at))
    if ids is not None:
        q = q.where(col(Ticket.id).in_(list(ids)))
    rows: list[Any] = list(conn.execute(q).all())
    return {int(i): _aware(c) for i, c in rows}


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
    labelled = _labelled(conn, [runs[0].ticket_id])[runs[0].ticket_id]
    return rollup_values(repo, number, runs, _life(found) if found else None, labelled)


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def refresh_pull(s: Session, repo: str, number: int) -> None:
    """Recompute the rollup of `repo#number` (and of its ticket) in the caller's transaction.
    The row is created first and locked, so concurrent writers of one pull request take turns
    (on PostgreSQL; SQLite has one writer) and the last one reads every committed run."""
    s.flush()
    conn = s.connection()
    before = conn.execute(select(col(PullRollup.ticket_id)).where(_is(repo, number))).first()
    values = _compute(conn, repo, number)
    if values is None:
        conn.execute(delete(PullRollup).where(_is(repo, number)))
    else:
        conn.execute(_insert(conn)(PullRollup).values(**values).on_conflict_do_nothing())
        conn.execute(select(col(PullRollup.id)).where(_is(repo, number)).with_for_update())
        values = _compute(conn, repo, number) or values
        conn.execute(PullRollup.__table__.update().where(_is(repo, number)).values(**values))  # type: ignore[attr-defined]
    tickets = {before[0]} if before else set()
    for ticket_id in tickets | ({values["ticket_id"]} if values else set()):
        refresh_ticket(s, ticket_id)


def _is(repo: str, number: int) -> Any:
    return (col(PullRollup.repo) == repo) & (col(PullRollup.number) == number)


def refresh_run(s: Session, run: Run) -> None:
    """After a run is added or changed: its ticket's rollup and its pull request's."""
    s.flush()
    ticket = s.get(Ticket, run.ticket_id)
    if ticket is None:
        return
    if run.pr_number is not None:
        refresh_pull(s, ticket.repo, run.pr_number)  # refreshes the ticket too
    else:
        refresh_ticket(s, ticket.id or run.ticket_id)


# --- tickets ----------------------------------------------------------------------------------


def _join(items: Iterable[str]) -> str:
    return ITEM.join(sorted(set(items)))


@dataclass(frozen=True)
class _TicketPull:
    harness: str
    model: str | None
    state: str
    merged_at: datetime | None
    order: tuple[datetime, int]


def ticket_values(
    ticket_id: int, pairs: Iterable[tuple[str, str | None]], pulls: Sequence[_TicketPull]
) -> dict[str, Any]:
    """The rollup row of one ticket from its runs' (harness, model) and its pull requests."""
    found = list(pairs)
    kept = [p for p in pulls if p.state == PullState.MERGED]
    kept.sort(key=lambda p: (p.merged_at is None, p.merged_at or p.order[0], p.order))
    first = kept[0] if kept else None
    return {
        "ticket_id": ticket_id,
        "pairs": _join(f"{h}{PART}{m or ''}" for h, m in found),
        "harnesses": _join(h for h, _ in found),
        "pulls": _join(
            f"{p.harness}{PART}{p.model or ''}{PART}{int(p.state == PullState.MERGED)}"
            for p in pulls
        ),
        "resolved_by": f"{first.harness}{PART}{first.model or ''}" if first else None,
        "resolved_at": first.merged_at if first else None,
    }


_TP_COLUMNS = (
    PullRollup.ticket_id,
    PullRollup.harness,
    PullRollup.model,
    PullRollup.state,
    PullRollup.merged_at,
    PullRollup.first_started_at,
    PullRollup.first_run_id,
)


def _ticket_pull(row: Any) -> _TicketPull:
    _, h, m, st, mg, fs, fr = row
    return _TicketPull(h, m, st, _opt(mg), (_aware(fs), fr))


def refresh_ticket(s: Session, ticket_id: int) -> None:
    """Recompute one ticket's rollup from its runs and its pull requests' rollups."""
    s.flush()
    conn = s.connection()
    pairs = conn.execute(
        select(col(Run.harness), col(Run.model)).where(col(Run.ticket_id) == ticket_id).distinct()
    ).all()
    pulls = conn.execute(
        select(*(col(c) for c in _TP_COLUMNS)).where(col(PullRollup.ticket_id) == ticket_id)
    ).all()
    values = ticket_values(ticket_id, [(h, m) for h, m in pairs], [_ticket_pull(p) for p in pulls])
    stmt = _insert(conn)(TicketRollup).values(**values)
    rest = {k: v for k, v in values.items() if k != "ticket_id"}
    conn.execute(stmt.on_conflict_do_update(index_elements=["ticket_id"], set_=rest))


# --- bulk -------------------------------------------------------------------------------------


def rebuild(conn: Connection) -> int:
    """Recompute every rollup row from the source rows (migration, bulk loads); returns how
    many pull requests there are."""
    by_pull: dict[tuple[str, int], list[_PullRun]] = defaultdict(list)
    for row in _pull_runs(conn, None, None):
        by_pull[(row[0], row[1])].append(_run(row[2:]))
    lives = {(r[0], r[1]): _life(r) for r in conn.execute(select(*(col(c) for c in _LIFE_COLUMNS)))}
    labelled = _labelled(conn, None)
    rows = [
        rollup_values(k[0], k[1], rs, lives.get(k), labelled[rs[0].ticket_id])
        for k, rs in by_pull.items()
    ]
    pairs: dict[int, set[tuple[str, str | None]]] = defaultdict(set)
    for t, h, m in conn.execute(select(col(Run.ticket_id), col(Run.harness), col(Run.model))):
        pairs[t].add((h, m))
    pulls: dict[int, list[_TicketPull]] = defaultdict(list)
    for v in rows:
        pulls[v["ticket_id"]].append(
            _TicketPull(
                v["harness"],
                v["model"],
                v["state"],
                v["merged_at"],
                (v["first_started_at"], v["first_run_id"]),
            )
        )
    tickets = [ticket_values(t, pairs[t], pulls[t]) for t in set(pairs) | set(pulls)]
    conn.execute(delete(PullRollup))
    conn.execute(delete(TicketRollup))
    for table, values in ((PullRollup, rows), (TicketRollup, tickets)):
        for chunk in _chunks(values):
            conn.execute(insert(table), chunk)
    return len(rows)


def _chunks(rows: list[dict[str, Any]], size: int = 5000) -> Iterable[list[dict[str, Any]]]:
    return (rows[i : i + size] for i in range(0, len(rows), size))
