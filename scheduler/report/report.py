"""The report: the metrics of a period and slice, by harness, repository, model, label and
week, harnesses on common tickets, and the latest runs. `report_of` is the reference, over
every row; what the CLI, the dashboard and the API serve is the same report summed by the
database (`scheduler.report.fromstore.store_report`). Rendered by `scheduler.report.render`
(table, JSON, CSV, HTML)."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import Engine

from scheduler.report.attribution import Derived, Period, derive
from scheduler.report.compare import Comparison, compare_harnesses
from scheduler.report.history import load_history
from scheduler.report.metrics import Metrics, grouped, metrics


class BadQuery(ValueError):
    """A report or API parameter that cannot be used; the message says why."""


def parse_moment(name: str, text: str | None) -> datetime | None:
    """`2030-03-04` (midnight UTC) or an ISO 8601 time (no zone: UTC); None stays None."""
    if text is None or not text.strip():
        return None
    raw = text.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(f"{name}: {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ReportQuery:
    """What to report on: `[since, until)`, one repository, one harness."""

    since: datetime | None = None
    until: datetime | None = None
    repo: str | None = None
    harness: str | None = None
    runs_shown: int = 20

    @classmethod
    def parse(
        cls,
        since: str | None = None,
        until: str | None = None,
        repo: str | None = None,
        harness: str | None = None,
        runs_shown: int = 20,
    ) -> "ReportQuery":
        """A query from text parameters, or `BadQuery` saying what is wrong."""
        q = cls(
            parse_moment("since", since),
            parse_moment("until", until),
            (repo or "").strip() or None,
            (harness or "").strip() or None,
            runs_shown,
        )
        if q.since and q.until and q.since >= q.until:
            raise BadQuery(f"since ({since}) must be before until ({until})")
        if q.repo is not None and q.repo.count("/") != 1:
            raise BadQuery(f"repo: {repo!r} is not owner/name")
        if runs_shown < 0:
            raise BadQuery("runs must be 0 or more")
        return q

    @property
    def period(self) -> Period:
        return Period(self.since, self.until)

    @property
    def where(self) -> dict[str, str]:
        w = {"repo": self.repo, "harness": self.harness}
        return {k: v for k, v in w.items() if v}


@dataclass(frozen=True)
class RunRow:
    run_id: int
    ticket: str
    harness: str
    model: str | None
    status: str
    outcome: str | None
    pr_url: str | None
    started_at: datetime
    seconds: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None


@dataclass(frozen=True)
class Report:
    """What the report shows; every number here is computed from stored rows."""

    query: ReportQuery
    generated_at: datetime
    overall: Metrics
    by_harness: dict[str, Metrics]
    by_repo: dict[str, Metrics]
    by_model: dict[str, Metrics]
    by_label: dict[str, Metrics]
    by_week: dict[str, Metrics]
    comparisons: list[Comparison]
    tickets_by_status: dict[str, int]
    rows: list[RunRow] = field(default_factory=list)

    @property
    def tickets(self) -> int:
        return self.overall.handed

    @property
    def runs(self) -> int:
        return self.overall.runs

    @property
    def prs_opened(self) -> int:
        return self.overall.prs_opened

    @property
    def outcomes(self) -> dict[str, int]:
        return self.overall.outcomes


def build_report(engine: Engine, query: ReportQuery, now: datetime | None = None) -> Report:
    """The reference report for `query`: every row read, then the pure functions."""
    return report_of(derive(load_history(engine, repo=query.repo)), query, now)


def report_of(d: Derived, query: ReportQuery, now: datetime | None = None) -> Report:
    """The report over already derived history (pure)."""
    moment = now or datetime.now(UTC)
    period, where = query.period, query.where
    tickets = [t for t in d.tickets if period.holds(t.fact.created_at)]
    if query.harness:
        tickets = [t for t in tickets if any(r.harness == query.harness for r in t.runs)]
    return Report(
        query=query,
        generated_at=moment,
        overall=metrics(d, period, where),
        by_harness=grouped(d, period, "harness", where),
        by_repo=grouped(d, period, "repo", where),
        by_model=grouped(d, period, "model", where),
        by_label=grouped(d, period, "label", where),
        by_week=grouped(d, period, "week", where, now=moment),
        comparisons=compare_harnesses(d, period, where),
        tickets_by_status=dict(sorted(Counter(str(t.fact.status) for t in tickets).items())),
        rows=_rows(d, query),
    )


def _rows(d: Derived, query: ReportQuery) -> list[RunRow]:
    if query.runs_shown == 0:
        return []
    chosen = [
        r for r in d.runs if query.period.holds(r.started_at) and query.harness in (None, r.harness)
    ]
    chosen.sort(key=lambda r: (r.started_at, r.id), reverse=True)
    out = []
    for r in chosen[: query.runs_shown]:
        t = d.ticket_of[r.ticket_id]
        secs = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
        out.append(
            RunRow(
                run_id=r.id,
                ticket=f"{t.repo}#{t.number}",
                harness=r.harness,
                model=r.model,
                status=r.status,
                outcome=r.outcome,
                pr_url=r.pr_url,
                started_at=r.started_at,
                seconds=secs,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cost_usd=r.cost_usd,
            )
        )
    return out
