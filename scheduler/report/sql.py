"""The queries behind `scheduler.report.aggregate`: the database counts and sums by group, so
the report reads a few hundred rows rather than every run.

Each function runs one statement and returns plain rows. Our own SQL fragments are the only
text put into a statement; every value a user gives is a bound parameter. Two dialects:
SQLite (timestamps stored as `YYYY-MM-DD HH:MM:SS.ffffff` text, in UTC) and PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, DateTime, bindparam, text

from scheduler.report.attribution import Period
from worker.store.rollup import ITEM as SEP_ITEM
from worker.store.rollup import PART as SEP_PART


@dataclass(frozen=True)
class Scope:
    """What every query filters on: a period on the entity's own time, a repository, and,
    for runs only, a harness (tickets and pull requests are filtered in Python)."""

    period: Period
    repo: str | None = None
    harness: str | None = None


class Sql:
    """The statements of one dialect."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"

    # --- dialect fragments ----------------------------------------------------------------

    def week(self, column: str) -> str:
        """The Monday (UTC) of the week `column` falls in: text or a date, `YYYY-MM-DD` as str."""
        if self.pg:
            # a date (str() gives YYYY-MM-DD); to_char would cost more than the grouping
            return f"CAST(date_trunc('week', {column} AT TIME ZONE 'UTC') AS date)"
        return f"date(substr({column}, 1, 10), 'weekday 0', '-6 days')"

    # --- filters ----------------------------------------------------------------------------

    def _where(self, scope: Scope, moment: str, repo: str, harness: str | None) -> tuple[str, Any]:
        parts, params = ["1 = 1"], dict[str, Any]()
        if scope.period.since is not None:
            parts.append(f"{moment} >= :since")
            params["since"] = scope.period.since.astimezone(UTC)
        if scope.period.until is not None:
            parts.append(f"{moment} < :until")
            params["until"] = scope.period.until.astimezone(UTC)
        if scope.repo is not None:
            parts.append(f"{repo} = :repo")
            params["repo"] = scope.repo
        if harness is not None and scope.harness is not None:
            parts.append(f"{harness} = :harness")
            params["harness"] = scope.harness
        return " AND ".join(parts), params

    def _rows(self, sql: str, params: dict[str, Any]) -> list[Any]:
        stmt = text(sql)
        binds = [bindparam(k, type_=DateTime(timezone=True)) for k in ("since", "until")]
        stmt = stmt.bindparams(*(b for b in binds if b.key in params))
        return list(self.conn.execute(stmt, params).all())

    # --- the statements ---------------------------------------------------------------------

    REOPENED = (
        "CASE WHEN t.issue_state = 'open' AND t.issue_reopened_at IS NOT NULL "
        "AND tr.resolved_at IS NOT NULL AND t.issue_reopened_at >= tr.resolved_at "
        "THEN 1 ELSE 0 END"
    )

    def tickets(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """Tickets handed in the period, counted by (repo, labels, status) or (week), then
        their run pairs, pull requests, resolution and whether it was reopened (the rollup)."""
        where, params = self._where(scope, "t.created_at", "t.repo", None)
        keys = self.week("t.created_at") if by_week else "t.repo, t.labels, t.status"
        rest = f"tr.pairs, tr.pulls, tr.resolved_by, {self.REOPENED}"
        return self._rows(
            f"SELECT {keys}, {rest}, COUNT(*) FROM ticket t "
            "LEFT JOIN ticketrollup tr ON tr.ticket_id = t.id "
            f"WHERE {where} GROUP BY {keys}, {rest}",
            params,
        )

    def resolutions(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """Tickets whose resolving merge is in the period, by (repo, labels) or (week), then
        the resolution's attribution, the ticket's run pairs and whether it was reopened."""
        where, params = self._where(scope, "tr.resolved_at", "t.repo", None)
        keys = self.week("tr.resolved_at") if by_week else "t.repo, t.labels"
        rest = f"tr.resolved_by, tr.pairs, {self.REOPENED}"
        return self._rows(
            f"SELECT {keys}, {rest}, COUNT(*) FROM ticketrollup tr "
            "JOIN ticket t ON t.id = tr.ticket_id "
            f"WHERE tr.resolved_at IS NOT NULL AND {where} GROUP BY {keys}, {rest}",
            params,
        )

    def runs(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """Runs started in the period, summed: by (repo, labels, harness, model, outcome) or
        by (week, outcome); then count, input, output tokens, runs with tokens, cost, runs
        with a cost."""
        where, params = self._where(scope, "r.started_at", "t.repo", "r.harness")
        keys = (
            f"{self.week('r.started_at')}, o.kind"
            if by_week
            else "t.repo, t.labels, r.harness, r.model, o.kind"
        )
        return self._rows(
            f"SELECT {keys}, COUNT(*), SUM(COALESCE(r.input_tokens, 0)), "
            "SUM(COALESCE(r.output_tokens, 0)), "
            "SUM(CASE WHEN r.input_tokens IS NULL AND r.output_tokens IS NULL THEN 0 ELSE 1 END), "
            "SUM(r.cost_usd), COUNT(r.cost_usd) FROM run r "
            f"{'' if by_week and scope.repo is None else 'JOIN ticket t ON t.id = r.ticket_id '}"
            "LEFT JOIN outcome o ON o.run_id = r.id "
            f"WHERE {where} GROUP BY {keys}",
            params,
        )

    def pulls(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """Pull requests opened in the period by (repo, labels, harness, model, state) or
        (week, state): count, reopenings, and every duration to the PR and to the merge in
        µs, as comma-separated text (medians need every one)."""
        where, params = self._where(scope, "p.opened_at", "p.repo", "p.harness")
        keys = (
            f"{self.week('p.opened_at')}, p.state"
            if by_week
            else "t.repo, t.labels, p.harness, p.model, p.state"
        )
        if self.pg:
            listed = "string_agg(p.to_pr_us::text, ','), string_agg(p.to_merge_us::text, ',')"
        else:
            listed = "group_concat(p.to_pr_us), group_concat(p.to_merge_us)"
        return self._rows(
            f"SELECT {keys}, COUNT(*), SUM(p.reopened_count), {listed} "
            f"FROM pullrollup p {'' if by_week else 'JOIN ticket t ON t.id = p.ticket_id '}"
            f"WHERE {where} "
            f"GROUP BY {keys}",
            params,
        )

    def closed(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """Issues closed in the period: (repo, labels, n) or (week, n)."""
        where, params = self._where(scope, "c.closed_at", "c.repo", None)
        keys = self.week("c.closed_at") if by_week else "c.repo, c.labels"
        return self._rows(
            f"SELECT {keys}, COUNT(*) FROM closedissue c WHERE {where} GROUP BY {keys}", params
        )

    def harness_runs(self, scope: Scope) -> list[Any]:
        """For comparisons: runs of tickets handed in the period that two harnesses or more
        ran, by (repository, the ticket's harnesses, run harness): count, cost, runs with a
        cost."""
        where, params = self._where(scope, "t.created_at", "t.repo", None)
        keys = "t.repo, tr.harnesses, r.harness"
        return self._rows(
            f"SELECT {keys}, COUNT(*), SUM(r.cost_usd), COUNT(r.cost_usd) "
            "FROM ticket t JOIN ticketrollup tr ON tr.ticket_id = t.id "
            "JOIN run r ON r.ticket_id = t.id "
            f"WHERE {where} AND tr.harnesses LIKE :several GROUP BY {keys}",
            {**params, "several": f"%{SEP_ITEM}%"},
        )

    def first_moment(self, scope: Scope) -> datetime | None:
        """The earliest labelling or close of the repository filter (where weeks begin)."""
        where, params = self._where(Scope(Period(), scope.repo), "x", "repo", None)
        rows = self._rows(
            f"SELECT MIN(created_at) FROM ticket WHERE {where} UNION ALL "
            f"SELECT MIN(closed_at) FROM closedissue WHERE {where}",
            params,
        )
        found = [moment(row[0]) for row in rows if row[0] is not None]
        return min(found, default=None)


def moment(value: Any) -> datetime:
    """A timestamp as the driver returns it (SQLite: text), as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@lru_cache(maxsize=4096)
def labels(raw: str | None) -> tuple[str, ...]:
    """A stored JSON label list (anything unreadable: no labels)."""
    if not raw or raw == "[]":
        return ()
    try:
        found = json.loads(raw)
    except ValueError:
        return ()
    return tuple(str(x) for x in found) if isinstance(found, list) else ()


@lru_cache(maxsize=4096)
def items(raw: str | None) -> tuple[tuple[str, ...], ...]:
    """The items of a rollup text (`worker.store.rollup`): (harness, model) pairs, or
    (harness, model, kept) for pull requests; a model of '' is none."""
    if not raw:
        return ()
    return tuple(tuple(item.split(SEP_PART)) for item in raw.split(SEP_ITEM))
