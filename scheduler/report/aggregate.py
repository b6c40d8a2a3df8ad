"""The metrics from the database's sums (`scheduler.report.sql`) instead of from every row.

The definitions are the README's, and `scheduler.report.metrics` (over every row) is the
reference these must equal: the same `Metrics` for any period, repository and harness (a
test checks it on random histories). What makes it cheap: runs, tickets and closed issues
come back summed per group (repository, label set, harness, model, outcome, week); pull
requests come back one row each, because medians need every duration. Attributions and
resolutions are read from the rollups the writes keep (`worker.store.rollup`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scheduler.report.metrics import NONE, Funnel, Metrics, _durations, _ratio
from scheduler.report.sql import items, labels

WEEK = "week"


@dataclass
class Cell:
    """The sums of one group; every number of `Metrics` follows from them."""

    handed: int = 0
    with_run: int = 0
    with_pr: int = 0
    merged: int = 0
    own: int = 0
    resolved: int = 0
    resolved_in_period: int = 0
    closed: int = 0
    runs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    input_tokens: int = 0
    output_tokens: int = 0
    token_runs: int = 0
    cost: float = 0.0
    cost_runs: int = 0
    states: Counter[str] = field(default_factory=Counter)
    reopenings: int = 0
    to_pr: list[float] = field(default_factory=list)
    to_merge: list[float] = field(default_factory=list)

    def metrics(self) -> Metrics:
        """The metrics of this group, as `scheduler.report.metrics` defines them."""
        st = self.states
        kept, tokens = st["merged"], self.input_tokens + self.output_tokens
        cost = self.cost if self.cost_runs else 0
        return Metrics(
            handed=self.handed,
            funnel=Funnel(self.handed, self.with_run, self.with_pr, self.merged),
            resolved=self.resolved,
            reopened=self.own - self.resolved,
            agent_coverage=_ratio(self.resolved, self.handed),
            resolved_in_period=self.resolved_in_period,
            closed_in_period=self.closed,
            backlog_coverage=_ratio(self.resolved_in_period, self.closed),
            runs=self.runs,
            outcomes=dict(sorted(self.outcomes.items())),
            prs_opened=sum(st.values()),
            prs_merged=kept,
            prs_closed=st["closed"],
            prs_open=st["open"],
            prs_reverted=st["reverted"],
            prs_reopened=self.reopenings,
            merge_rate=_ratio(kept, kept + st["closed"] + st["reverted"]),
            time_to_pr=_durations(self.to_pr),
            time_to_merge=_durations(self.to_merge),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            tokens_per_run=_ratio(tokens, self.token_runs),
            tokens_per_merged_pr=_ratio(tokens, kept),
            cost_usd=cost,
            runs_without_cost=self.runs - self.cost_runs,
            cost_per_run=_ratio(cost, self.cost_runs),
            cost_per_merged_pr=_ratio(cost, kept),
        )


def hours(listed: str | list[float] | None) -> list[float]:
    """Comma-separated µs as hours, computed as `timedelta.total_seconds() / 3600` does
    (a list: already read)."""
    if isinstance(listed, list):
        return listed
    return [int(us) / 1_000_000 / 3600 for us in listed.split(",")] if listed else []


class Grouping:
    """Sums per value of one dimension (None: one group, "") within a harness filter."""

    def __init__(self, dim: str | None, harness: str | None) -> None:
        self.dim, self.harness = dim, harness
        self.cells: dict[str, Cell] = defaultdict(Cell)

    def keys(
        self, repo: str, lbs: tuple[str, ...], harness: str, model: str, week: str = ""
    ) -> tuple[str, ...]:
        """The groups of an entity with these dimension values."""
        d = self.dim
        if d is None:
            return ("",)
        if d == "repo":
            return (repo,)
        if d == "label":
            return lbs or (NONE,)
        if d == "harness":
            return (harness,)
        if d == "model":
            return (model or NONE,)
        return (week,)

    def _match(self, h: str) -> bool:
        return self.harness is None or h == self.harness

    def _item(self, h: str, m: str, ticket: set[str]) -> set[str]:
        """The groups, among the ticket's, that a run or pull request (h, m) counts in."""
        if not self._match(h):
            return set()
        if self.dim == "harness":
            return {h} & ticket
        if self.dim == "model":
            return {m or NONE} & ticket
        return ticket

    def _ticket_groups(self, head: list[Any], runs: set[tuple[str, str]]) -> set[str]:
        if self.dim == "harness":
            return {h for h, _ in runs}
        if self.dim == "model":
            return {m for _, m in runs}
        if self.harness is not None and not runs:
            return set()
        if self.dim == WEEK:
            return {str(head[0])}
        return set(self.keys(str(head[0]), labels(head[1]), "", ""))

    def _runs_of(self, raw: str | None) -> set[tuple[str, str]]:
        return {(i[0], i[1] or NONE) for i in items(raw) if self._match(i[0])}

    def tickets(self, rows: Iterable[Any]) -> None:
        """Rows of `Sql.tickets`: the funnel and the resolutions of tickets handed."""
        for row in rows:
            *head, raw_runs, raw_pulls, resolved_by, reopened, n = row
            if self.dim != WEEK:
                head = head[:2]
            runs = self._runs_of(raw_runs)
            groups = self._ticket_groups(head, runs)
            if not groups:
                continue
            with_pr: set[str] = set()
            merged: set[str] = set()
            for h, m, kept in items(raw_pulls):
                found = self._item(h, m, groups)
                with_pr |= found
                merged |= found if kept == "1" else set()
            own = set()
            if resolved_by:
                h, m = items(resolved_by)[0]
                own = self._item(h, m, groups)
            count = int(n)
            for g in groups:
                c = self.cells[g]
                c.handed += count
                c.with_run += count if runs else 0
                c.with_pr += count if g in with_pr else 0
                c.merged += count if g in merged else 0
                c.own += count if g in own else 0
                c.resolved += count if g in own and not reopened else 0

    def resolutions(self, rows: Iterable[Any]) -> None:
        """Rows of `Sql.resolutions`: resolving merges in the period (the ticket must have a
        run in the group too, as the ticket it resolves is counted there)."""
        for row in rows:
            *head, resolved_by, raw_runs, reopened, n = row
            h, m = items(resolved_by)[0]
            groups = self._item(h, m, self._ticket_groups(head, self._runs_of(raw_runs)))
            for g in groups:
                self.cells[g].resolved_in_period += 0 if reopened else int(n)

    def runs(self, rows: Iterable[Any]) -> None:
        """Rows of `Sql.runs` (filtered by harness already)."""
        for row in rows:
            if self.dim == WEEK:
                groups: tuple[str, ...] = (str(row[0]),)
                kind, rest = row[1], row[2:]
            else:
                rp, lb, h, m, kind = row[:5]
                groups = self.keys(str(rp), labels(lb), str(h), str(m or ""))
                rest = row[5:]
            n, it, ot, tn, cost, cn = (v or 0 for v in rest)
            for g in groups:
                c = self.cells[g]
                c.runs += int(n)
                c.outcomes[str(kind or "running")] += int(n)
                c.input_tokens += int(it)
                c.output_tokens += int(ot)
                c.token_runs += int(tn)
                c.cost += float(cost)
                c.cost_runs += int(cn)

    def pulls(self, rows: Iterable[Any]) -> None:
        """Rows of `Sql.pulls` (filtered by harness already): pull requests opened."""
        for row in rows:
            if self.dim == WEEK:
                groups: tuple[str, ...] = (str(row[0]),)
                state, n, reopenings, to_pr, to_merge = row[1:]
            else:
                repo, lbs, h, m, state, n, reopenings, to_pr, to_merge = row
                groups = self.keys(str(repo), labels(lbs), str(h), str(m or ""))
            pr_hours, merge_hours = hours(to_pr), hours(to_merge)
            for g in groups:
                c = self.cells[g]
                c.states[str(state)] += int(n)
                c.reopenings += int(reopenings or 0)
                c.to_pr.extend(pr_hours)
                c.to_merge.extend(merge_hours)

    def closed(self, rows: Iterable[Any]) -> None:
        """Rows of `Sql.closed`; for harness and model every group shares them."""
        shared = 0
        for row in rows:
            *head, n = row
            count = int(n)
            if self.dim in ("harness", "model"):
                shared += count
                continue
            if self.dim == WEEK:
                groups: tuple[str, ...] = (str(head[0]),)
            else:
                groups = self.keys(str(head[0]), labels(head[1]), "", "")
            for g in groups:
                self.cells[g].closed += count
        if shared:
            for cell in self.cells.values():
                cell.closed += shared

    def result(self) -> Iterator[tuple[str, Cell]]:
        yield from sorted(self.cells.items())
