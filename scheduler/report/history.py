"""Reads the store into the plain facts the metrics work on: one query per table, only the
columns used, datetimes as aware UTC (SQLite hands them back naive)."""

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from scheduler.report.attribution import ClosedFact, History, PullFact, RunFact, TicketFact
from worker.store.db import session_scope
from worker.store.models import AgentPull, ClosedIssue, Outcome, Run, Ticket


def _cols(*columns: Any) -> list[Any]:
    return [col(c) for c in columns]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _opt(moment: datetime | None) -> datetime | None:
    return None if moment is None else _utc(moment)


def _labels(text: str | None) -> tuple[str, ...]:
    if not text or text == "[]":
        return ()
    try:
        found = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(str(x) for x in found) if isinstance(found, list) else ()


def load_history(engine: Engine, repo: str | None = None) -> History:
    """Everything the metrics need, optionally for one repository only."""
    with session_scope(engine) as s:
        conn = s.connection()
        tq = select(
            *_cols(
                Ticket.id,
                Ticket.repo,
                Ticket.number,
                Ticket.title,
                Ticket.url,
                Ticket.status,
                Ticket.created_at,
                Ticket.labels,
                Ticket.issue_state,
                Ticket.issue_reopened_at,
            )
        )
        if repo:
            tq = tq.where(col(Ticket.repo) == repo)
        tickets = [
            TicketFact(
                id=i,
                repo=rp,
                number=n,
                title=ti,
                url=u,
                status=st,
                created_at=_utc(c),
                labels=_labels(lb),
                issue_state=iss,
                issue_reopened_at=_opt(reo),
            )
            for i, rp, n, ti, u, st, c, lb, iss, reo in conn.execute(tq).all()
            if i is not None
        ]
        ids = {t.id for t in tickets}
        rq = select(
            *_cols(
                Run.id,
                Run.ticket_id,
                Run.harness,
                Run.model,
                Run.status,
                Run.started_at,
                Run.finished_at,
                Outcome.kind,
                Run.pr_number,
                Run.pr_url,
                Run.input_tokens,
                Run.output_tokens,
                Run.cost_usd,
            )
        ).outerjoin(Outcome, col(Outcome.run_id) == Run.id)
        runs = [
            RunFact(
                id=i,
                ticket_id=t,
                harness=h,
                model=m,
                status=st,
                started_at=_utc(sa),
                finished_at=_opt(fa),
                outcome=k,
                pr_number=pn,
                pr_url=pu,
                input_tokens=it,
                output_tokens=ot,
                cost_usd=c,
            )
            for i, t, h, m, st, sa, fa, k, pn, pu, it, ot, c in conn.execute(rq).all()
            if i is not None and t in ids
        ]
        pq = select(
            *_cols(
                AgentPull.repo,
                AgentPull.number,
                AgentPull.state,
                AgentPull.merged_at,
                AgentPull.reopened_count,
                AgentPull.reverted_at,
            )
        )
        cq = select(
            *_cols(ClosedIssue.repo, ClosedIssue.number, ClosedIssue.closed_at, ClosedIssue.labels)
        )
        if repo:
            pq, cq = pq.where(col(AgentPull.repo) == repo), cq.where(col(ClosedIssue.repo) == repo)
        pulls = [
            PullFact(rp, n, st, _opt(m), rc, _opt(rv))
            for rp, n, st, m, rc, rv in conn.execute(pq).all()
        ]
        closed = [
            ClosedFact(rp, n, _utc(c), _labels(lb)) for rp, n, c, lb in conn.execute(cq).all()
        ]
    return History(tickets=tickets, runs=runs, pulls=pulls, closed=closed)
