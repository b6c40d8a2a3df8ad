"""What the metrics read and how pull requests and resolutions are attributed.

Plain values made from the store's rows (`scheduler.report.history` reads them), and `derive`, which
attributes each agent pull request to a run and each resolution to a ticket, once per history.
The definitions are the README's ("Outcomes and metrics").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.store.models import IssueState, PullState


@dataclass(frozen=True)
class TicketFact:
    id: int
    repo: str
    number: int
    title: str
    url: str
    status: str
    created_at: datetime
    labels: tuple[str, ...] = ()
    issue_state: str | None = None
    issue_reopened_at: datetime | None = None


@dataclass(frozen=True)
class RunFact:
    id: int
    ticket_id: int
    harness: str
    model: str | None
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str | None = None
    pr_number: int | None = None
    pr_url: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class PullFact:
    repo: str
    number: int
    state: str  # open, closed, merged (from the lifecycle table)
    merged_at: datetime | None = None
    reopened_count: int = 0
    reverted_at: datetime | None = None


@dataclass(frozen=True)
class ClosedFact:
    repo: str
    number: int
    closed_at: datetime
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class History:
    """The rows the metrics read, as plain values."""

    tickets: Sequence[TicketFact]
    runs: Sequence[RunFact]
    pulls: Sequence[PullFact]
    closed: Sequence[ClosedFact]


@dataclass(frozen=True)
class Period:
    """`[since, until)`; None is open-ended."""

    since: datetime | None = None
    until: datetime | None = None

    def holds(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        return (self.since is None or moment >= self.since) and (
            self.until is None or moment < self.until
        )


# --- derived views -------------------------------------------------------------------------


@dataclass(frozen=True)
class PullView:
    """An agent pull request with what it is attributed to and what became of it."""

    repo: str
    number: int
    ticket: TicketFact
    run: RunFact  # the run it is attributed to
    opened_at: datetime
    state: str  # open, closed, merged, reverted
    merged_at: datetime | None
    reopened_count: int
    url: str | None

    @property
    def kept(self) -> bool:
        return self.state == PullState.MERGED


@dataclass(frozen=True)
class TicketView:
    fact: TicketFact
    runs: tuple[RunFact, ...]
    pulls: tuple[PullView, ...]
    resolution: PullView | None  # the earliest kept merge
    reopened: bool  # the issue was reopened after that merge

    @property
    def resolved(self) -> bool:
        return self.resolution is not None and not self.reopened


@dataclass(frozen=True)
class Derived:
    tickets: tuple[TicketView, ...]
    runs: tuple[RunFact, ...]
    pulls: tuple[PullView, ...]
    closed: tuple[ClosedFact, ...]
    ticket_of: Mapping[int, TicketFact]


def derive(h: History) -> Derived:
    """Attribute pull requests to runs and resolutions to tickets, once per history."""
    tickets = {t.id: t for t in h.tickets}
    lifecycle = {(p.repo, p.number): p for p in h.pulls}
    runs_of: dict[int, list[RunFact]] = defaultdict(list)
    by_pr: dict[tuple[str, int], list[RunFact]] = defaultdict(list)
    for r in sorted(h.runs, key=lambda r: (r.started_at, r.id)):
        t = tickets.get(r.ticket_id)
        if t is None:
            continue
        runs_of[t.id].append(r)
        if r.pr_number is not None:
            by_pr[(t.repo, r.pr_number)].append(r)
    pulls = [
        _pull_view(key, rs, tickets[rs[0].ticket_id], lifecycle.get(key))
        for key, rs in by_pr.items()
    ]
    pulls_of: dict[int, list[PullView]] = defaultdict(list)
    for p in pulls:
        pulls_of[p.ticket.id].append(p)
    views = []
    for t in tickets.values():
        kept = sorted((p for p in pulls_of[t.id] if p.kept), key=lambda p: _key(p.merged_at))
        first = kept[0] if kept else None
        reopened = bool(
            first is not None
            and first.merged_at is not None
            and t.issue_state == IssueState.OPEN
            and t.issue_reopened_at is not None
            and t.issue_reopened_at >= first.merged_at
        )
        views.append(TicketView(t, tuple(runs_of[t.id]), tuple(pulls_of[t.id]), first, reopened))
    return Derived(
        tickets=tuple(views),
        runs=tuple(r for rs in runs_of.values() for r in rs),
        pulls=tuple(pulls),
        closed=tuple(h.closed),
        ticket_of=tickets,
    )


def _key(moment: datetime | None) -> datetime:
    return moment or datetime.max.replace(tzinfo=UTC)


def _pull_view(
    key: tuple[str, int], runs: list[RunFact], ticket: TicketFact, life: PullFact | None
) -> PullView:
    state = life.state if life else PullState.OPEN
    merged_at = life.merged_at if life and state == PullState.MERGED else None
    if merged_at is not None and life is not None and life.reverted_at is not None:
        state = "reverted"
    before = [r for r in runs if merged_at is None or r.started_at <= merged_at] or runs
    opener = runs[0]
    return PullView(
        repo=key[0],
        number=key[1],
        ticket=ticket,
        run=before[-1],
        opened_at=opener.finished_at or opener.started_at,
        state=state,
        merged_at=merged_at,
        reopened_count=life.reopened_count if life else 0,
        url=next((r.pr_url for r in reversed(runs) if r.pr_url), None),
    )


def ticket_status(t: TicketView) -> str:
    """One word for where a ticket stands: resolved, reopened, reverted, pr_open, pr_closed,
    or the ticket's own status (new, queued, running, done, failed) when it has no PR."""
    if t.resolution is not None:
        return "reopened" if t.reopened else "resolved"
    states = {p.state for p in t.pulls}
    for state, word in (("open", "pr_open"), ("reverted", "reverted"), ("closed", "pr_closed")):
        if state in states:
            return word
    return t.fact.status
