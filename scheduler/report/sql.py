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

SEP_ITEM, SEP_PART = "\x1e", "\x1f"  # between a ticket's (harness, model) pairs; inside one


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
        """The Monday (`YYYY-MM-DD`, UTC) of the week `column` falls in."""
        if self.pg:
            return f"to_char(date_trunc('week', {column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
        return f"date(substr({column}, 1, 10), 'weekday 0', '-6 days')"

    def pairs(self, ticket: str, *, models: bool = True) -> str:
        """A ticket's distinct (harness, model) pairs (or harnesses) as one text."""
        item = "r.harness"
        if models:
            sep = "chr(31)" if self.pg else "char(31)"
            item = f"r.harness || {sep} || COALESCE(r.model, '')"
        if self.pg:
            return (
                f"(SELECT string_agg(DISTINCT {item}, chr(30)) FROM run r "
                f"WHERE r.ticket_id = {ticket})"
            )
        return (
            f"(SELECT group_concat(x, char(30)) FROM "
            f"(SELECT DISTINCT {item} AS x FROM run r WHERE r.ticket_id = {ticket}))"
        )

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

    def tickets(self, scope: Scope, *, by_week: bool) -> list[Any]:
        """Tickets handed in the period: (repo, labels, status, pairs, n) or (week, pairs, n)."""
        where, params = self._where(scope, "t.created_at", "t.repo", None)
        keys = "wk" if by_week else "repo, labels, status"
        cols = f"{self.week('t.created_at')} AS wk" if by_week else "t.repo, t.labels, t.status"
        return self._rows(
            f"SELECT {keys}, pairs, COUNT(*) FROM (SELECT {cols}, {self.pairs('t.id')} AS pairs "
            f"FROM ticket t WHERE {where}) x GROUP BY {keys}, pairs",
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
            else ("t.repo, t.labels, r.harness, r.model, o.kind")
        )
        return self._rows(
            f"SELECT {keys}, COUNT(*), SUM(COALESCE(r.input_tokens, 0)), "
            "SUM(COALESCE(r.output_tokens, 0)), "
            "SUM(CASE WHEN r.input_tokens IS NULL AND r.output_tokens IS NULL THEN 0 ELSE 1 END), "
            "SUM(r.cost_usd), COUNT(r.cost_usd) "
            "FROM run r JOIN ticket t ON t.id = r.ticket_id "
            "LEFT JOIN outcome o ON o.run_id = r.id "
            f"WHERE {where} GROUP BY {keys}",
            params,
        )

    def pulls(self, scope: Scope) -> list[Any]:
        """Every pull request of a ticket that is handed in the period or has a pull request
        opened or merged in it, with its ticket: (ticket id, repo, labels, created, issue state,
        issue reopened, harness, model, state, merged, opened, first start, first run id,
        reopenings)."""
        t_where, params = self._where(scope, "t.created_at", "t.repo", None)
        o_where, _ = self._where(scope, "q.opened_at", "q.repo", None)
        m_where, _ = self._where(scope, "q.merged_at", "q.repo", None)
        return self._rows(
            "SELECT p.ticket_id, t.repo, t.labels, t.created_at, t.issue_state, "
            "t.issue_reopened_at, p.harness, p.model, p.state, p.merged_at, p.opened_at, "
            "p.first_started_at, p.first_run_id, p.reopened_count "
            "FROM pullrollup p JOIN ticket t ON t.id = p.ticket_id "
            f"WHERE ({t_where}) OR p.ticket_id IN (SELECT q.ticket_id FROM pullrollup q "
            f"WHERE ({o_where}) OR ({m_where}))",
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
        """For comparisons: runs of tickets handed in the period by (the ticket's harnesses,
        run harness): count, cost, runs with a cost."""
        where, params = self._where(scope, "t.created_at", "t.repo", None)
        return self._rows(
            f"WITH x AS MATERIALIZED (SELECT t.id, {self.pairs('t.id', models=False)} AS hs "
            f"FROM ticket t WHERE {where}) "
            "SELECT x.hs, r.harness, COUNT(*), SUM(r.cost_usd), COUNT(r.cost_usd) "
            "FROM x JOIN run r ON r.ticket_id = x.id GROUP BY x.hs, r.harness",
            params,
        )

    def harness_pulls(self, scope: Scope) -> list[Any]:
        """For comparisons: tickets handed in the period by (the ticket's harnesses, harness a
        pull request is attributed to): tickets with one, tickets with a kept merge."""
        where, params = self._where(scope, "t.created_at", "t.repo", None)
        return self._rows(
            f"WITH x AS MATERIALIZED (SELECT t.id, {self.pairs('t.id', models=False)} AS hs "
            f"FROM ticket t WHERE {where}) "
            "SELECT x.hs, p.harness, COUNT(DISTINCT x.id), "
            "COUNT(DISTINCT CASE WHEN p.state = 'merged' THEN x.id END) "
            "FROM x JOIN pullrollup p ON p.ticket_id = x.id GROUP BY x.hs, p.harness",
            params,
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
def pairs(raw: str | None) -> frozenset[tuple[str, str]]:
    """The (harness, model) pairs of `Sql.pairs` (model '' when none); harnesses alone give
    (harness, '')."""
    if not raw:
        return frozenset()
    out = set()
    for item in raw.split(SEP_ITEM):
        h, _, m = item.partition(SEP_PART)
        out.add((h, m))
    return frozenset(out)
