"""The report's weekly sums: what `scheduler.report.sql` returns for one week, stored per week
(`ReportWeek`), so a report over a year sums about fifty weeks of groups instead of scanning
every run, ticket and pull request.

Every write to a row these sum names its week(s) in `ReportDirty` (database triggers,
migration 0010); `refresh` recomputes exactly those weeks from the source rows with the same
statements the report used to run over everything. A period that does not start or end on a
Monday reads its partial weeks from the source rows (at most two weeks of them).

`Source` answers the same rows as `Sql` (same shapes, same meaning: rows for one group may
come back split in several rows, which the readers add up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, text

from scheduler.report.attribution import Period
from scheduler.report.metrics import week_of
from scheduler.report.sql import Scope, Sql
from worker.store.models import ReportWeek

_WEEK = timedelta(days=7)
_LOCK = 716_016  # PostgreSQL advisory lock: one refresh at a time


# --- keeping the sums -----------------------------------------------------------------------


def _rows_of_week(sql: Sql, week: str) -> Iterable[dict[str, Any]]:
    start = datetime.fromisoformat(week).replace(tzinfo=UTC)
    scope = Scope(Period(start, start + _WEEK))
    base = {"week": week}
    for r in sql.runs(scope, by_week=False):
        yield base | dict(
            kind="run", repo=r[0], labels=r[1], a=r[2], b=r[3], c=r[4], n=r[5], x1=r[6],
            x2=r[7], x3=r[8], cost=r[9], x4=r[10],
        )  # fmt: skip
    for r in sql.tickets(scope, by_week=False):
        yield base | dict(
            kind="ticket", repo=r[0], labels=r[1], a=r[2], b=r[3], c=r[4], d=r[5], flag=r[6],
            n=r[7],
        )  # fmt: skip
    for r in sql.resolutions(scope, by_week=False):
        yield base | dict(
            kind="resolution", repo=r[0], labels=r[1], a=r[2], b=r[3], flag=r[4], n=r[5]
        )
    for r in sql.pulls(scope, by_week=False):
        yield base | dict(
            kind="pull", repo=r[0], labels=r[1], a=r[2], b=r[3], c=r[4], n=r[5], x1=r[6],
            l1=r[7], l2=r[8],
        )  # fmt: skip
    for r in sql.closed(scope, by_week=False):
        yield base | dict(kind="closed", repo=r[0], labels=r[1], n=r[2])
    for r in sql.harness_runs(scope):
        yield base | dict(kind="pair", repo=r[0], a=r[1], b=r[2], n=r[3], cost=r[4], x4=r[5])


_KEYS = ("repo", "labels", "a", "b", "c", "d", "flag")
_COLUMNS = (*_KEYS, "n", "x1", "x2", "x3", "x4", "cost", "l1", "l2")


def version(engine: Engine) -> int:
    """The version of the sums once brought up to date: equal versions, equal sums."""
    refresh(engine)
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT version FROM reportversion")).scalar_one())


def refresh(engine: Engine) -> int:
    """Recompute the weeks written to since the last refresh; returns how many."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT id FROM reportdirty LIMIT 1")).first() is None:
            return 0
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        taken = conn.execute(text("DELETE FROM reportdirty RETURNING week")).all()
        weeks = sorted({str(w) for (w,) in taken})
        sql, table = Sql(conn), ReportWeek.__table__  # type: ignore[attr-defined]
        for week in weeks:
            conn.execute(text("DELETE FROM reportweek WHERE week = :w"), {"w": week})
            rows = [
                {c: 0 if c in ("flag", "n") else None for c in _COLUMNS} | r
                for r in _rows_of_week(sql, week)
            ]
            if rows:
                conn.execute(insert(table), rows)
        if weeks:  # another refresh may have taken them first
            conn.execute(text("UPDATE reportversion SET version = version + 1"))
        return len(weeks)


# --- reading them ---------------------------------------------------------------------------


def split(period: Period) -> tuple[tuple[str | None, str | None] | None, list[Period]]:
    """The whole weeks inside `period` (first Monday, Monday after the last; None: open) and
    the partial weeks around them, read from the source rows."""
    s, u = period.since, period.until
    w0 = None if s is None else week_of(s) + (_WEEK if week_of(s) != s else timedelta())
    w1 = None if u is None else week_of(u)
    if w0 is not None and w1 is not None and w0 >= w1:
        return None, [period]
    edges = []
    if s is not None and w0 is not None and s < w0:
        edges.append(Period(s, w0))
    if u is not None and w1 is not None and w1 < u:
        edges.append(Period(w1, u))
    return (_day(w0), _day(w1)), edges


def _day(week: datetime | None) -> str | None:
    return None if week is None else week.date().isoformat()


def _int(expr: str) -> str:
    return f"CAST(SUM({expr}) AS BIGINT)"


N = _int("n")
RUN_SUMS = f"{N}, {_int('x1')}, {_int('x2')}, {_int('x3')}, SUM(cost), {_int('x4')}"


class Source:
    """The rows of `Sql`, from the weekly sums and the partial weeks' source rows."""

    def __init__(self, conn: Connection) -> None:
        self.sql = Sql(conn)
        concat = "string_agg({}, ',')" if self.sql.pg else "group_concat({})"
        self.pull_sums = f"{N}, {_int('x1')}, {concat.format('l1')}, {concat.format('l2')}"

    def _summed(
        self, kind: str, keys: str, sums: str, scope: Scope, full: tuple[str | None, ...] | None
    ) -> list[Any]:
        if full is None:
            return []
        where, params = ["kind = :kind"], {"kind": kind}
        for op, name, value in (
            (">=", "w0", full[0]),
            ("<", "w1", full[1]),
        ):
            if value is not None:
                where.append(f"week {op} :{name}")
                params[name] = value
        if scope.repo is not None:
            where.append("repo = :repo")
            params["repo"] = scope.repo
        if scope.harness is not None and kind in ("run", "pull"):
            where.append("a = :harness")
            params["harness"] = scope.harness
        return self.sql._rows(
            f"SELECT {keys}, {sums} FROM reportweek WHERE {' AND '.join(where)} GROUP BY {keys}",
            params,
        )

    def _both(
        self, kind: str, keys: str, sums: str, scope: Scope, raw: Callable[[Scope], list[Any]]
    ) -> list[Any]:
        full, edges = split(scope.period)
        rows = self._summed(kind, keys, sums, scope, full)
        for edge in edges:
            rows.extend(raw(Scope(edge, scope.repo, scope.harness)))
        return rows

    def runs(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """As `Sql.runs`."""
        keys = "week, c" if by_week else "repo, labels, a, b, c"
        return self._both("run", keys, RUN_SUMS, scope, lambda s: self.sql.runs(s, by_week=by_week))

    def tickets(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """As `Sql.tickets`."""
        keys = "week, b, c, d, flag" if by_week else "repo, labels, a, b, c, d, flag"
        return self._both("ticket", keys, N, scope, lambda s: self.sql.tickets(s, by_week=by_week))

    def resolutions(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """As `Sql.resolutions`."""
        keys = "week, a, b, flag" if by_week else "repo, labels, a, b, flag"
        return self._both(
            "resolution", keys, N, scope, lambda s: self.sql.resolutions(s, by_week=by_week)
        )

    def pulls(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """As `Sql.pulls`."""
        keys = "week, c" if by_week else "repo, labels, a, b, c"
        return self._both(
            "pull", keys, self.pull_sums, scope, lambda s: self.sql.pulls(s, by_week=by_week)
        )

    def closed(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """As `Sql.closed`."""
        keys = "week" if by_week else "repo, labels"
        return self._both("closed", keys, N, scope, lambda s: self.sql.closed(s, by_week=by_week))

    def harness_runs(self, scope: Scope) -> list[Any]:
        """As `Sql.harness_runs`."""
        sums = f"{N}, SUM(cost), {_int('x4')}"
        return self._both("pair", "repo, a, b", sums, scope, self.sql.harness_runs)

    def first_moment(self, scope: Scope) -> datetime | None:
        """As `Sql.first_moment`."""
        return self.sql.first_moment(scope)
