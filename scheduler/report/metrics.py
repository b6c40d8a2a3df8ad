"""The metrics, as pure functions over the store's rows (read by `scheduler.report.history`).

Every definition here is the one the README states in "Outcomes and metrics", the
reference. In short:

- A ticket is *handed* to the agent when it is first labelled (`Ticket.created_at`).
- A pull request belongs to the run that last worked on it before it merged (or the last run,
  if it did not merge): its harness, model, repository and labels are that run's and ticket's.
  It is *opened* when the first run that names it finished.
- A *kept merge* is a merged agent pull request not reverted on the default branch. A revert
  makes the merge count as not merged anywhere; it is counted as `reverted`.
- A ticket is *resolved* by its earliest kept merge, unless its issue was reopened after that
  merge (then it counts as `reopened`, not resolved). States are as known now.
- Periods are half-open, `[since, until)`, in UTC; weeks start on Monday.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from scheduler.report.attribution import (
    ClosedFact,
    Derived,
    Period,
    PullView,
    RunFact,
    TicketFact,
    TicketView,
)

DIMENSIONS = ("repo", "harness", "model", "label", "week")
NONE = "(none)"
MAX_WEEKS = 520  # by week covers at most the last ten years of a period


# --- slices --------------------------------------------------------------------------------


Where = Mapping[str, str]
"""Constraints by dimension: {"repo": "o/r", "harness": "codex", "model": ..., "label": ...}."""


def _run_ok(r: RunFact, t: TicketFact, where: Where) -> bool:
    if not where:
        return True
    return (
        ("repo" not in where or t.repo == where["repo"])
        and ("label" not in where or where["label"] in _labels(t))
        and ("harness" not in where or r.harness == where["harness"])
        and ("model" not in where or (r.model or NONE) == where["model"])
    )


def _labels(t: TicketFact) -> tuple[str, ...]:
    return t.labels or (NONE,)


def _ticket_ok(t: TicketView, where: Where) -> bool:
    if not where:
        return True
    f = t.fact
    if "repo" in where and f.repo != where["repo"]:
        return False
    if "label" in where and where["label"] not in _labels(f):
        return False
    if "harness" in where or "model" in where:
        return any(_run_ok(r, f, where) for r in t.runs)
    return True


def _pull_ok(p: PullView, where: Where) -> bool:
    return _run_ok(p.run, p.ticket, where)


def _closed_ok(c: ClosedFact, where: Where) -> bool:
    if not where:
        return True
    return ("repo" not in where or c.repo == where["repo"]) and (
        "label" not in where or where["label"] in (c.labels or (NONE,))
    )


# --- the metrics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    labeled: int
    run: int
    pull_request: int
    merged: int


@dataclass(frozen=True)
class Durations:
    """Hours; None when there is nothing to measure."""

    count: int
    median_hours: float | None
    mean_hours: float | None


@dataclass(frozen=True)
class Metrics:
    """Every number of one slice and period (see the README for each definition)."""

    handed: int
    funnel: Funnel
    resolved: int
    reopened: int
    agent_coverage: float | None
    resolved_in_period: int
    closed_in_period: int
    backlog_coverage: float | None
    runs: int
    outcomes: dict[str, int]
    prs_opened: int
    prs_merged: int
    prs_closed: int
    prs_open: int
    prs_reverted: int
    prs_reopened: int
    merge_rate: float | None
    time_to_pr: Durations
    time_to_merge: Durations
    input_tokens: int
    output_tokens: int
    tokens_per_run: float | None
    tokens_per_merged_pr: float | None
    cost_usd: float
    runs_without_cost: int
    cost_per_run: float | None
    cost_per_merged_pr: float | None


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _durations(hours: list[float]) -> Durations:
    if not hours:
        return Durations(0, None, None)
    return Durations(len(hours), statistics.median(hours), statistics.fmean(hours))


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


@dataclass
class _Bucket:
    """The entities of one slice whose anchor falls in one period."""

    tickets: list[TicketView] = field(default_factory=list)  # by created_at
    runs: list[RunFact] = field(default_factory=list)  # by started_at
    pulls: list[PullView] = field(default_factory=list)  # by opened_at
    resolutions: list[TicketView] = field(default_factory=list)  # by resolving merge
    closed: list[ClosedFact] = field(default_factory=list)  # by closed_at


def _compute(b: _Bucket, where: Where) -> Metrics:
    handed = b.tickets
    with_run = [t for t in handed if any(_run_ok(r, t.fact, where) for r in t.runs)]
    with_pr = [t for t in handed if any(_pull_ok(p, where) for p in t.pulls)]
    merged = [t for t in handed if any(p.kept and _pull_ok(p, where) for p in t.pulls)]
    own = [t for t in handed if t.resolution is not None and _pull_ok(t.resolution, where)]
    resolved = sum(1 for t in own if not t.reopened)
    states = Counter(p.state for p in b.pulls)
    decided = states["merged"] + states["closed"] + states["reverted"]
    kept = [p for p in b.pulls if p.kept]
    tokens = [
        (r.input_tokens or 0) + (r.output_tokens or 0)
        for r in b.runs
        if r.input_tokens is not None or r.output_tokens is not None
    ]
    costs = [r.cost_usd for r in b.runs if r.cost_usd is not None]
    in_period_resolved = sum(1 for t in b.resolutions if not t.reopened)
    return Metrics(
        handed=len(handed),
        funnel=Funnel(len(handed), len(with_run), len(with_pr), len(merged)),
        resolved=resolved,
        reopened=len(own) - resolved,
        agent_coverage=_ratio(resolved, len(handed)),
        resolved_in_period=in_period_resolved,
        closed_in_period=len(b.closed),
        backlog_coverage=_ratio(in_period_resolved, len(b.closed)),
        runs=len(b.runs),
        outcomes=dict(sorted(Counter(r.outcome or "running" for r in b.runs).items())),
        prs_opened=len(b.pulls),
        prs_merged=len(kept),
        prs_closed=states["closed"],
        prs_open=states["open"],
        prs_reverted=states["reverted"],
        prs_reopened=sum(p.reopened_count for p in b.pulls),
        merge_rate=_ratio(len(kept), decided),
        time_to_pr=_durations([_hours(p.ticket.created_at, p.opened_at) for p in b.pulls]),
        time_to_merge=_durations(
            [_hours(p.opened_at, p.merged_at) for p in kept if p.merged_at is not None]
        ),
        input_tokens=sum(r.input_tokens or 0 for r in b.runs),
        output_tokens=sum(r.output_tokens or 0 for r in b.runs),
        tokens_per_run=_ratio(sum(tokens), len(tokens)),
        tokens_per_merged_pr=_ratio(sum(tokens), len(kept)),
        cost_usd=sum(costs),
        runs_without_cost=len(b.runs) - len(costs),
        cost_per_run=_ratio(sum(costs), len(costs)),
        cost_per_merged_pr=_ratio(sum(costs), len(kept)),
    )


def _dim_of(dim: str | None, r: RunFact, t: TicketFact) -> tuple[str, ...]:
    """The values of dimension `dim` a run (with its ticket) belongs to ("" without one)."""
    if dim is None:
        return ("",)
    if dim == "repo":
        return (t.repo,)
    if dim == "label":
        return _labels(t)
    if dim == "harness":
        return (r.harness,)
    return (r.model or NONE,)


def _fill(
    d: Derived, where: Where, key: Callable[[datetime], str | None], dim: str | None = None
) -> dict[tuple[str, str], _Bucket]:
    """One pass over the slice's entities, into buckets by (time key of their anchor, value
    of `dim`). A time key of None leaves the entity out. Closed issues belong to every
    harness and model: they are the backlog every harness is measured against."""
    out: dict[tuple[str, str], _Bucket] = defaultdict(_Bucket)
    for t in d.tickets:
        f = t.fact
        if not _ticket_ok(t, where):
            continue
        k = key(f.created_at)
        if k is not None:
            if dim in ("harness", "model"):
                groups = {v for r in t.runs if _run_ok(r, f, where) for v in _dim_of(dim, r, f)}
            else:
                groups = set(_dim_of(dim, _NO_RUN, f))
            for g in groups:
                out[(k, g)].tickets.append(t)
        res = t.resolution
        if res is not None and res.merged_at is not None and _pull_ok(res, where):
            k = key(res.merged_at)
            if k is not None:
                for g in _dim_of(dim, res.run, f):
                    out[(k, g)].resolutions.append(t)
    ticket_of = d.ticket_of
    for r in d.runs:
        f = ticket_of[r.ticket_id]
        if _run_ok(r, f, where):
            k = key(r.started_at)
            if k is not None:
                for g in _dim_of(dim, r, f):
                    out[(k, g)].runs.append(r)
    for p in d.pulls:
        if _pull_ok(p, where):
            k = key(p.opened_at)
            if k is not None:
                for g in _dim_of(dim, p.run, p.ticket):
                    out[(k, g)].pulls.append(p)
    shared: dict[str, list[ClosedFact]] = defaultdict(list)
    for c in d.closed:
        k = key(c.closed_at) if _closed_ok(c, where) else None
        if k is None:
            continue
        if dim == "repo":
            out[(k, c.repo)].closed.append(c)
        elif dim == "label":
            for g in c.labels or (NONE,):
                out[(k, g)].closed.append(c)
        elif dim is None:
            out[(k, "")].closed.append(c)
        else:
            shared[k].append(c)
    for (k, _), bucket in out.items():
        bucket.closed.extend(shared.get(k, ()))
    return out


_NO_RUN = RunFact(0, 0, NONE, None, "", datetime.min.replace(tzinfo=UTC))


def metrics(d: Derived, period: Period, where: Where | None = None) -> Metrics:
    """All metrics of the slice `where` over `period`."""
    w = where or {}
    buckets = _fill(d, w, lambda m: "in" if period.holds(m) else None)
    return _compute(buckets.get(("in", ""), _Bucket()), w)


def week_of(moment: datetime) -> datetime:
    """The Monday 00:00 UTC that starts `moment`'s week."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weeks(period: Period, d: Derived, now: datetime) -> list[datetime]:
    """The week starts covering `period` (an open start begins at the first data), at most
    the last MAX_WEEKS of it."""
    first = min(
        [t.fact.created_at for t in d.tickets] + [c.closed_at for c in d.closed], default=None
    )
    return weeks_from(period, first, now)


def weeks_from(period: Period, first_data: datetime | None, now: datetime) -> list[datetime]:
    """The week starts covering `period`, an open start beginning at `first_data` (or now)."""
    first = period.since or first_data or now
    last = (period.until or now) - timedelta(microseconds=1)
    if last < first:
        return []
    out, w = [], max(week_of(first), week_of(last) - timedelta(weeks=MAX_WEEKS - 1))
    while w <= last:
        out.append(w)
        w += timedelta(days=7)
    return out


def by_week(d: Derived, period: Period, where: Where | None, now: datetime) -> dict[str, Metrics]:
    """Metrics per week of `period`, every week present (empty weeks give empty metrics)."""
    w = where or {}

    names: dict[date, str] = {}

    def key(m: datetime) -> str | None:
        if not period.holds(m):
            return None
        day = m.astimezone(UTC).date()
        found = names.get(day)
        if found is None:
            found = names[day] = week_of(m).date().isoformat()
        return found

    buckets = _fill(d, w, key)
    return {
        s.date().isoformat(): _compute(buckets.get((s.date().isoformat(), ""), _Bucket()), w)
        for s in weeks(period, d, now)
    }


def grouped(
    d: Derived, period: Period, dim: str, where: Where | None = None, now: datetime | None = None
) -> dict[str, Metrics]:
    """Metrics per value of `dim` (one of DIMENSIONS) within the slice `where`."""
    if dim not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dim!r}; one of {', '.join(DIMENSIONS)}")
    if dim == "week":
        return by_week(d, period, where, now or datetime.now(UTC))
    base = dict(where or {})
    buckets = _fill(d, base, lambda m: "in" if period.holds(m) else None, dim)
    found = sorted({g for k, g in buckets if k == "in" and base.get(dim, g) == g})
    return {g: _compute(buckets[("in", g)], {**base, dim: g}) for g in found}
