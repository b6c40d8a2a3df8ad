"""The metrics from the database's sums (`scheduler.report.sql`) instead of from every row.

The definitions are the README's, and `scheduler.report.metrics` (over every row) is the
reference these must equal: the same `Metrics` for any period, repository and harness (a
test checks it on random histories). What makes it cheap: runs, tickets and closed issues
come back summed per group (repository, label set, harness, model, outcome, week); pull
requests, already attributed by the rollup the writes keep, come back one row each, because
medians need every duration.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scheduler.report.metrics import NONE, Funnel, Metrics, _durations, _ratio, week_of
from scheduler.report.sql import labels, moment, pairs

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


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


@dataclass(frozen=True)
class Pull:
    """One pull request row of the rollup with its ticket (see `Sql.pulls`)."""

    ticket_id: int
    repo: str
    labels: tuple[str, ...]
    created_at: datetime
    issue_state: str | None
    issue_reopened_at: datetime | None
    harness: str
    model: str
    state: str
    merged_at: datetime | None
    opened_at: datetime
    order: tuple[datetime, int]  # the first run's start and id: the tie-break of merges

    @classmethod
    def of(cls, row: Any) -> Pull:
        t, rp, lb, c, ist, ireo, h, m, st, mg, op, fs, fr, _ = row
        return cls(
            ticket_id=int(t),
            repo=str(rp),
            labels=labels(lb),
            created_at=moment(c),
            issue_state=ist,
            issue_reopened_at=None if ireo is None else moment(ireo),
            harness=str(h),
            model=str(m or NONE),
            state=str(st),
            merged_at=None if mg is None else moment(mg),
            opened_at=moment(op),
            order=(moment(fs), int(fr)),
        )


@dataclass(frozen=True)
class TicketPulls:
    """A ticket's pull requests and its resolution: the earliest kept merge, and whether
    the issue was reopened after it."""

    pulls: tuple[Pull, ...]
    reopenings: tuple[int, ...]
    resolution: Pull | None
    reopened: bool


def ticket_pulls(rows: Iterable[Any]) -> list[TicketPulls]:
    """The pull rows grouped by ticket, each ticket's resolution found."""
    by_ticket: dict[int, list[tuple[Pull, int]]] = defaultdict(list)
    for row in rows:
        by_ticket[int(row[0])].append((Pull.of(row), int(row[13])))
    out = []
    for items in by_ticket.values():
        kept = [p for p, _ in items if p.state == "merged"]
        kept.sort(key=lambda p: (p.merged_at is None, p.merged_at or p.opened_at, p.order))
        first = kept[0] if kept else None
        reopened = bool(
            first is not None
            and first.merged_at is not None
            and first.issue_state == "open"
            and first.issue_reopened_at is not None
            and first.issue_reopened_at >= first.merged_at
        )
        pulls = tuple(p for p, _ in items)
        out.append(TicketPulls(pulls, tuple(n for _, n in items), first, reopened))
    return out


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

    def tickets(self, rows: Iterable[Any]) -> None:
        """Rows of `Sql.tickets`: handed and with a run, and (no week) by status."""
        for row in rows:
            *head, raw, n = row
            found = {(h, m or NONE) for h, m in pairs(raw) if self.harness in (None, h)}
            count = int(n)
            if self.dim == "harness" or self.dim == "model":
                groups = {h if self.dim == "harness" else m for h, m in found}
            elif self.harness is not None and not found:
                continue
            elif self.dim == WEEK:
                groups = {str(head[0])}
            else:
                groups = set(self.keys(str(head[0]), labels(head[1]), "", ""))
            for g in groups:
                cell = self.cells[g]
                cell.handed += count
                cell.with_run += count if found else 0

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

    def _of(self, p: Pull, anchor: datetime) -> tuple[str, ...]:
        if self.harness not in (None, p.harness):
            return ()
        week = week_of(anchor).date().isoformat() if self.dim == WEEK else ""
        return self.keys(p.repo, p.labels, p.harness, p.model, week)

    def pulls(
        self, tickets: Iterable[TicketPulls], holds: Callable[[datetime | None], bool]
    ) -> None:
        """Pull requests opened in the period, the funnel's pull request stages and the
        resolutions of tickets handed in it, and resolutions whose merge is in it."""
        for tp in tickets:
            for p, reopenings in zip(tp.pulls, tp.reopenings, strict=True):
                if holds(p.opened_at):
                    for g in self._of(p, p.opened_at):
                        c = self.cells[g]
                        c.states[p.state] += 1
                        c.reopenings += reopenings
                        c.to_pr.append(_hours(p.created_at, p.opened_at))
                        if p.state == "merged" and p.merged_at is not None:
                            c.to_merge.append(_hours(p.opened_at, p.merged_at))
            created = tp.pulls[0].created_at
            if holds(created):
                self._funnel(tp, created)
            res = tp.resolution
            if res is not None and res.merged_at is not None and holds(res.merged_at):
                for g in self._of(res, res.merged_at):
                    self.cells[g].resolved_in_period += 0 if tp.reopened else 1

    def _funnel(self, tp: TicketPulls, created: datetime) -> None:
        with_pr = {g for p in tp.pulls for g in self._of(p, created)}
        merged = {g for p in tp.pulls if p.state == "merged" for g in self._of(p, created)}
        for g in with_pr:
            self.cells[g].with_pr += 1
        for g in merged:
            self.cells[g].merged += 1
        if tp.resolution is not None:
            for g in self._of(tp.resolution, created):
                self.cells[g].own += 1
                self.cells[g].resolved += 0 if tp.reopened else 1

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
