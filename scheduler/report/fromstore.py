"""The report and its metrics from the database's sums: what the CLI, the dashboard, the API
and `/metrics` serve. Same answers as the pure functions over every row
(`scheduler.report.metrics`, `report_of`), a few hundred rows read instead of every run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select
from sqlmodel import col

from scheduler.report.aggregate import WEEK, Cell, Grouping, hours
from scheduler.report.attribution import Period
from scheduler.report.compare import Comparison, HarnessOnTickets
from scheduler.report.metrics import DIMENSIONS, Metrics, _ratio, weeks_from
from scheduler.report.report import Report, ReportQuery, RunRow
from scheduler.report.sql import Scope, items, moment
from scheduler.report.weeks import Source, refresh
from worker.store.models import Outcome, Run, Ticket

T = TypeVar("T")


class Facts:
    """The summed rows of one scope, each read at most once."""

    def __init__(self, conn: Connection, scope: Scope) -> None:
        self.sql, self.scope = Source(conn), scope
        self._cache: dict[str, Any] = {}

    def _once(self, name: str, read: Callable[[], T]) -> T:
        if name not in self._cache:
            self._cache[name] = read()
        return self._cache[name]  # type: ignore[no-any-return]

    def tickets(self, week: bool = False) -> list[Any]:
        return self._once(f"t{week}", lambda: self.sql.tickets(self.scope, by_week=week))

    def runs(self, week: bool = False) -> list[Any]:
        return self._once(f"r{week}", lambda: self.sql.runs(self.scope, by_week=week))

    def closed(self, week: bool = False) -> list[Any]:
        return self._once(f"c{week}", lambda: self.sql.closed(self.scope, by_week=week))

    def resolutions(self, week: bool = False) -> list[Any]:
        return self._once(f"s{week}", lambda: self.sql.resolutions(self.scope, by_week=week))

    def pulls(self, week: bool = False) -> list[Any]:
        """Durations read once, not once per grouping."""
        return self._once(
            f"p{week}",
            lambda: [
                (*r[:-2], hours(r[-2]), hours(r[-1]))
                for r in self.sql.pulls(self.scope, by_week=week)
            ],
        )

    def grouping(self, dim: str | None) -> Grouping:
        """Every entity of the scope summed per value of `dim`."""
        g, week = Grouping(dim, self.scope.harness), dim == WEEK
        g.tickets(self.tickets(week))
        g.resolutions(self.resolutions(week))
        g.runs(self.runs(week))
        g.pulls(self.pulls(week))
        g.closed(self.closed(week))  # last: harness and model share them among their groups
        return g


def _scope(period: Period, where: Mapping[str, str] | None) -> Scope:
    w = dict(where or {})
    extra = set(w) - {"repo", "harness"}
    if extra:
        raise ValueError(f"the store's metrics filter by repo and harness only, not {extra}")
    return Scope(period, w.get("repo"), w.get("harness"))


def overall(f: Facts) -> Metrics:
    return f.grouping(None).cells.get("", Cell()).metrics()


def grouped(f: Facts, dim: str, now: datetime) -> dict[str, Metrics]:
    """Metrics per value of `dim` (one of DIMENSIONS); by week every week of the period."""
    if dim not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dim!r}; one of {', '.join(DIMENSIONS)}")
    cells = f.grouping(dim).cells
    if dim != WEEK:
        return {g: c.metrics() for g, c in sorted(cells.items())}
    first = None if f.scope.period.since else f.sql.first_moment(f.scope)
    names = (w.date().isoformat() for w in weeks_from(f.scope.period, first, now))
    return {n: cells.get(n, Cell()).metrics() for n in names}


def comparisons(f: Facts) -> list[Comparison]:
    """Each pair of harnesses on the tickets (handed in the period) both ran."""
    handed: Counter[frozenset[str]] = Counter()
    pulls: Counter[tuple[frozenset[str], str, str]] = Counter()
    for row in f.tickets():
        hs, n = frozenset(i[0] for i in items(row[3])), int(row[-1])
        handed[hs] += n
        for what, found in (("pr", items(row[4])), ("merged", _kept(items(row[4])))):
            for h in {i[0] for i in found}:
                pulls[(hs, h, what)] += n
    runs = _by_set(f.sql.harness_runs(f.scope))
    names = sorted({h for hs in handed for h in hs})
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            common = sum(n for hs, n in handed.items() if a in hs and b in hs)
            if common:
                rows = (_on(a, b, a, runs, pulls), _on(a, b, b, runs, pulls))
                out.append(Comparison(a, b, common, rows))
    return out


def _kept(found: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    return [i for i in found if i[2] == "1"]


_Sums = dict[tuple[frozenset[str], str], tuple[Any, ...]]


def _by_set(rows: Iterable[Any]) -> _Sums:
    """Sums by (set of harnesses, harness)."""
    out: _Sums = {}
    for r in rows:
        key = (frozenset(i[0] for i in items(r[1])), str(r[2]))
        old = out.get(key, (0,) * len(r[3:]))
        out[key] = tuple(a + (b or 0) for a, b in zip(old, r[3:], strict=True))
    return out


def _on(
    a: str, b: str, harness: str, runs: _Sums, pulls: Counter[tuple[frozenset[str], str, str]]
) -> HarnessOnTickets:
    n = cost = cost_n = 0
    for (hs, h), (count, c, cn) in runs.items():
        if h == harness and a in hs and b in hs:
            n, cost, cost_n = n + int(count), cost + c, cost_n + int(cn)
    both = [(hs, what, k) for (hs, h, what), k in pulls.items() if h == harness]
    with_pr = sum(k for hs, what, k in both if what == "pr" and a in hs and b in hs)
    merged = sum(k for hs, what, k in both if what == "merged" and a in hs and b in hs)
    total = cost if cost_n else 0
    return HarnessOnTickets(harness, n, with_pr, merged, total, _ratio(total, cost_n))


def tickets_by_status(f: Facts) -> dict[str, int]:
    out: Counter[str] = Counter()
    for row in f.tickets():
        if f.scope.harness is None or any(i[0] == f.scope.harness for i in items(row[3])):
            out[str(row[2])] += int(row[-1])
    return dict(sorted(out.items()))


def latest_runs(conn: Connection, query: ReportQuery) -> list[RunRow]:
    """The latest runs started in the period, newest first."""
    if query.runs_shown == 0:
        return []
    q = (
        select(
            *(
                col(c)
                for c in (
                    Run.id,
                    Ticket.repo,
                    Ticket.number,
                    Ticket.tracker_key,
                    Run.harness,
                    Run.model,
                    Run.status,
                    Outcome.kind,
                    Run.pr_url,
                    Run.started_at,
                    Run.finished_at,
                    Run.input_tokens,
                    Run.output_tokens,
                    Run.cost_usd,
                )
            )
        )
        .join(Ticket, col(Ticket.id) == col(Run.ticket_id))
        .outerjoin(Outcome, col(Outcome.run_id) == col(Run.id))
        .order_by(col(Run.started_at).desc(), col(Run.id).desc())
        .limit(query.runs_shown)
    )
    if query.since is not None:
        q = q.where(col(Run.started_at) >= query.since.astimezone(UTC))
    if query.until is not None:
        q = q.where(col(Run.started_at) < query.until.astimezone(UTC))
    if query.repo is not None:
        q = q.where(col(Ticket.repo) == query.repo)
    if query.harness is not None:
        q = q.where(col(Run.harness) == query.harness)
    out, rows = [], list[Any](conn.execute(q).all())
    for rid, repo, num, key, h, m, st, kind, url, sa, fa, it, ot, cost in rows:
        started, finished = moment(sa), None if fa is None else moment(fa)
        secs = (finished - started).total_seconds() if finished else None
        ref = f"{repo} {key}" if key else f"{repo}#{num}"  # a Linear ticket: its key
        out.append(RunRow(rid, ref, h, m, st, kind, url, started, secs, it, ot, cost))
    return out


# --- entry points ---------------------------------------------------------------------------


def store_report(engine: Engine, query: ReportQuery, now: datetime | None = None) -> Report:
    """The whole report for `query`, from the database's sums."""
    moment_ = now or datetime.now(UTC)
    refresh(engine)
    with engine.connect() as conn:
        f = Facts(conn, _scope(query.period, query.where))
        return Report(
            query=query,
            generated_at=moment_,
            overall=overall(f),
            by_harness=grouped(f, "harness", moment_),
            by_repo=grouped(f, "repo", moment_),
            by_model=grouped(f, "model", moment_),
            by_label=grouped(f, "label", moment_),
            by_week=grouped(f, WEEK, moment_),
            comparisons=comparisons(f),
            tickets_by_status=tickets_by_status(f),
            rows=latest_runs(conn, query),
        )


def store_metrics(
    engine: Engine, period: Period, where: Mapping[str, str] | None = None
) -> Metrics:
    """All metrics of `period` for a repository and/or harness."""
    refresh(engine)
    with engine.connect() as conn:
        return overall(Facts(conn, _scope(period, where)))


def store_grouped(
    engine: Engine,
    period: Period,
    dim: str,
    where: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, Metrics]:
    """Metrics per value of `dim` within a repository and/or harness."""
    refresh(engine)
    with engine.connect() as conn:
        return grouped(Facts(conn, _scope(period, where)), dim, now or datetime.now(UTC))
