"""The report: tickets, runs, pull requests and outcomes, computed from the store."""

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import col, select

from worker.store.db import session_scope
from worker.store.models import Outcome, OutcomeKind, Run, Ticket


@dataclass(frozen=True)
class RunRow:
    run_id: int
    ticket: str
    harness: str
    status: str
    outcome: str | None
    pr_url: str | None
    seconds: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None


@dataclass(frozen=True)
class Report:
    """What the report shows; every number here is computed from stored rows."""

    tickets: int
    runs: int
    prs_opened: int
    outcomes: dict[str, int]
    tickets_by_status: dict[str, int]
    rows: list[RunRow] = field(default_factory=list)


def build_report(engine: Engine, repo: str | None = None) -> Report:
    with session_scope(engine) as s:
        tq = select(Ticket)
        if repo:
            tq = tq.where(Ticket.repo == repo)
        tickets = {t.id: t for t in s.exec(tq).all()}
        runs = [
            r for r in s.exec(select(Run).order_by(col(Run.id))).all() if r.ticket_id in tickets
        ]
        run_ids = {r.id for r in runs}
        outcomes = {o.run_id: o for o in s.exec(select(Outcome)).all() if o.run_id in run_ids}
    rows = []
    for r in runs:
        t, o = tickets[r.ticket_id], outcomes.get(r.id or -1)
        secs = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
        rows.append(
            RunRow(
                run_id=r.id or 0,
                ticket=f"{t.repo}#{t.number}",
                harness=r.harness,
                status=r.status,
                outcome=o.kind if o else None,
                pr_url=r.pr_url,
                seconds=secs,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cost_usd=r.cost_usd,
            )
        )
    kinds = Counter(o.kind for o in outcomes.values())
    return Report(
        tickets=len(tickets),
        runs=len(runs),
        prs_opened=kinds.get(OutcomeKind.PR_OPENED, 0) + kinds.get(OutcomeKind.PR_DRAFT, 0),
        outcomes=dict(kinds),
        tickets_by_status=dict(Counter(t.status for t in tickets.values())),
        rows=rows,
    )
