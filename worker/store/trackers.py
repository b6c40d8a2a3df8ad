"""Tickets of issues that live outside GitHub (Linear): found by the tracker's own id, or by
the agent session they answer to."""

import json
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import col, select

from worker.errors import DuplicateError, StoreError
from worker.store.db import session_scope
from worker.store.models import (
    ClosedIssue,
    IssueState,
    Provider,
    Run,
    Ticket,
    TicketStatus,
    utcnow,
)

ACTIVE = (TicketStatus.QUEUED, TicketStatus.RUNNING)


def upsert_tracker_ticket(
    engine: Engine,
    provider: Provider,
    *,
    tracker_id: str,
    tracker_key: str,
    repo: str,
    number: int,
    title: str,
    body: str,
    url: str,
    labeled_by: str | None,
    agent_session_id: str | None = None,
) -> Ticket:
    """The ticket of a tracker's issue, created or refreshed with the issue's current text
    (its repository follows the mapping unless a run is queued or running)."""
    for _ in range(2):  # a concurrent insert of the same issue wins once; then we update
        try:
            with session_scope(engine) as s:
                t = s.exec(
                    select(Ticket).where(
                        Ticket.provider == provider, Ticket.tracker_id == tracker_id
                    )
                ).first()
                if t is None:
                    t = Ticket(provider=provider, tracker_id=tracker_id, repo=repo, number=number)
                if t.status not in ACTIVE:
                    t.repo, t.number = repo, number
                t.tracker_key, t.title, t.body, t.url = tracker_key, title, body, url
                t.labeled_by = labeled_by or t.labeled_by
                t.agent_session_id = agent_session_id or t.agent_session_id
                t.updated_at = utcnow()
                s.add(t)
                s.flush()
                s.refresh(t)
                return t
        except DuplicateError:
            continue
    raise StoreError(f"could not record ticket {tracker_key}")


def find_tracker_ticket(engine: Engine, provider: Provider, tracker_id: str) -> Ticket | None:
    """The ticket of a tracker's issue, by the tracker's id of it."""
    with session_scope(engine) as s:
        return s.exec(
            select(Ticket).where(Ticket.provider == provider, Ticket.tracker_id == tracker_id)
        ).first()


def find_session_ticket(engine: Engine, session_id: str) -> Ticket | None:
    """The ticket a Linear agent session started."""
    with session_scope(engine) as s:
        return s.exec(select(Ticket).where(Ticket.agent_session_id == session_id)).first()


def has_pull(engine: Engine, ticket_id: int) -> bool:
    """Whether a run of the ticket opened (or updated) a pull request."""
    with session_scope(engine) as s:
        found = s.exec(
            select(Run.id).where(Run.ticket_id == ticket_id, col(Run.pr_number).is_not(None))
        ).first()
        return found is not None


def observe_tracker_issue(
    engine: Engine,
    provider: Provider,
    *,
    tracker_id: str,
    key: str,
    repo: str,
    number: int,
    closed_at: datetime | None,
    labels: list[str],
) -> None:
    """Keep the closed-issue list (the coverage's denominator, under the mapped repository)
    and the ticket's issue state in step with the tracker: a closed issue is (re)recorded,
    an open one dropped."""
    with session_scope(engine) as s:
        rows = s.exec(select(ClosedIssue).where(ClosedIssue.tracker_key == key)).all()
        for row in rows:
            if closed_at is None or row.repo != repo:
                s.delete(row)  # reopened, or now mapped elsewhere
        if closed_at is not None:
            row = next((r for r in rows if r.repo == repo), None) or ClosedIssue(
                repo=repo, number=number, tracker_key=key, closed_at=closed_at
            )
            row.closed_at, row.number, row.labels = closed_at, number, json.dumps(labels)
            s.add(row)
        ticket = s.exec(
            select(Ticket).where(Ticket.provider == provider, Ticket.tracker_id == tracker_id)
        ).first()
        if ticket is not None:
            if closed_at is not None:
                ticket.issue_closed_at = closed_at
            elif ticket.issue_state == IssueState.CLOSED:
                ticket.issue_reopened_at = utcnow()
            ticket.issue_state = IssueState.CLOSED if closed_at else IssueState.OPEN
            ticket.labels = json.dumps(labels)
            s.add(ticket)
