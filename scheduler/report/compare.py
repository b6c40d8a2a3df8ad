"""Harnesses on the same tickets: each pair of harnesses compared on the tickets (handed in
the period) both ran, the reference over every row (see the README, "Outcomes and metrics")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from scheduler.report.attribution import Derived, Period, TicketView
from scheduler.report.metrics import Where, _ratio, _ticket_ok


@dataclass(frozen=True)
class HarnessOnTickets:
    harness: str
    runs: int
    tickets_with_pr: int
    tickets_merged: int
    cost_usd: float
    cost_per_run: float | None


@dataclass(frozen=True)
class Comparison:
    """Two harnesses on the tickets both ran (tickets handed in the period)."""

    a: str
    b: str
    tickets: int
    rows: tuple[HarnessOnTickets, HarnessOnTickets]


def compare_harnesses(d: Derived, period: Period, where: Where | None = None) -> list[Comparison]:
    """Each pair of harnesses that ran at least one common ticket, compared on those tickets."""
    w = {k: v for k, v in (where or {}).items() if k in ("repo", "label")}
    handed = [t for t in d.tickets if period.holds(t.fact.created_at) and _ticket_ok(t, w)]
    ran: dict[str, set[int]] = defaultdict(set)
    for t in handed:
        for r in t.runs:
            ran[r.harness].add(t.fact.id)
    out = []
    names = sorted(ran)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            common = ran[a] & ran[b]
            if common:
                views = [t for t in handed if t.fact.id in common]
                rows = (_on(views, a), _on(views, b))
                out.append(Comparison(a, b, len(common), rows))
    return out


def _on(tickets: Iterable[TicketView], harness: str) -> HarnessOnTickets:
    ts = list(tickets)
    runs = [r for t in ts for r in t.runs if r.harness == harness]
    costs = [r.cost_usd for r in runs if r.cost_usd is not None]
    with_pr = sum(1 for t in ts if any(p.run.harness == harness for p in t.pulls))
    merged = sum(1 for t in ts if any(p.kept and p.run.harness == harness for p in t.pulls))
    return HarnessOnTickets(
        harness, len(runs), with_pr, merged, sum(costs), _ratio(sum(costs), len(costs))
    )
