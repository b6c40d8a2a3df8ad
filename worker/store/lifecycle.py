"""Reads and writes of the lifecycle: what became of agent pull requests and of issues.

Every write here is an observation applied once and in order, so webhooks and the periodic
sync can both report the same fact, in any order, any number of times.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from worker.errors import DuplicateError, StoreError
from worker.store.db import session_scope
from worker.store.models import (
    AgentPull,
    ClosedIssue,
    IssueState,
    Provider,
    PullState,
    Run,
    SyncCursor,
    Ticket,
    utcnow,
)
from worker.store.rollup import refresh_pull


@dataclass(frozen=True)
class PullObservation:
    """A pull request's state as GitHub reported it at `observed_at` (its `updated_at`)."""

    repo: str
    number: int
    state: PullState
    observed_at: datetime
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    head_sha: str | None = None


def pull_state(state: str, merged: bool) -> PullState:
    """A pull request's state (GitHub's `open`/`closed` and whether it merged) as kept here."""
    if merged:
        return PullState.MERGED
    return PullState.CLOSED if state == "closed" else PullState.OPEN


def observe_pull(engine: Engine, obs: PullObservation) -> AgentPull:
    """Apply one observation of a pull request. An observation older than the last one
    applied changes nothing; a merge is final; closed -> open counts one reopening."""
    for _ in range(2):  # a concurrent first insert of the same pull request wins once
        try:
            with session_scope(engine) as s:
                row = s.exec(
                    select(AgentPull)
                    .where(AgentPull.repo == obs.repo, AgentPull.number == obs.number)
                    .with_for_update()
                ).first()
                if row is None:
                    row = AgentPull(repo=obs.repo, number=obs.number)
                _apply(row, obs)
                s.add(row)
                s.flush()
                s.refresh(row)
                refresh_pull(s, obs.repo, obs.number)
                return row
        except DuplicateError:
            continue
    raise StoreError(f"could not record pull request {obs.repo}#{obs.number}")


def _apply(row: AgentPull, obs: PullObservation) -> None:
    row.opened_at = row.opened_at or obs.opened_at
    row.head_sha = obs.head_sha or row.head_sha
    stale = row.observed_at is not None and obs.observed_at < _aware(row.observed_at)
    if stale or row.state == PullState.MERGED:
        row.merge_commit_sha = row.merge_commit_sha or obs.merge_commit_sha
        return
    if row.state == PullState.CLOSED and obs.state == PullState.OPEN:
        row.reopened_count += 1
    row.state = obs.state
    row.closed_at = obs.closed_at if obs.state != PullState.OPEN else None
    row.merged_at = obs.merged_at if obs.state == PullState.MERGED else None
    row.merge_commit_sha = obs.merge_commit_sha or row.merge_commit_sha
    row.observed_at, row.updated_at = obs.observed_at, utcnow()


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def known_pull(engine: Engine, repo: str, number: int) -> bool:
    """True when a run of ours opened or updated pull request `repo#number`."""
    with session_scope(engine) as s:
        row = s.exec(
            select(Run.id)
            .join(Ticket, col(Ticket.id) == Run.ticket_id)
            .where(Ticket.repo == repo, Run.pr_number == number)
            .limit(1)
        ).first()
        return row is not None


def pulls_to_check(engine: Engine, closed_since: datetime) -> list[tuple[str, int]]:
    """Agent pull requests whose state may still change: never observed, open, or closed
    without merging after `closed_since` (they can be reopened). Merged ones are final."""
    with session_scope(engine) as s:
        ours = set(
            s.exec(
                select(Ticket.repo, Run.pr_number)
                .join(Ticket, col(Ticket.id) == Run.ticket_id)
                .where(col(Run.pr_number).is_not(None))
                .distinct()
            ).all()
        )
        settled = {
            (p.repo, p.number)
            for p in s.exec(select(AgentPull)).all()
            if p.state == PullState.MERGED
            or (p.state == PullState.CLOSED and p.closed_at and _aware(p.closed_at) < closed_since)
        }
    return sorted((repo, n) for repo, n in ours if n is not None and (repo, n) not in settled)


def merged_pulls(engine: Engine, repo: str) -> Sequence[AgentPull]:
    """Merged agent pull requests of `repo` not known to be reverted."""
    with session_scope(engine) as s:
        return s.exec(
            select(AgentPull).where(
                AgentPull.repo == repo,
                AgentPull.state == PullState.MERGED,
                col(AgentPull.reverted_at).is_(None),
            )
        ).all()


def mark_reverted(engine: Engine, pull_id: int, revert_sha: str, reverted_at: datetime) -> bool:
    """Record that a merged pull request was reverted; False if it already was."""
    with session_scope(engine) as s:
        row = s.get(AgentPull, pull_id)
        if row is None or row.reverted_at is not None:
            return False
        row.reverted_at, row.revert_sha, row.updated_at = reverted_at, revert_sha, utcnow()
        s.add(row)
        refresh_pull(s, row.repo, row.number)
        return True


@dataclass(frozen=True)
class IssueObservation:
    """An issue's state as the sync saw it (`seen_at`: the issue's `updated_at`)."""

    repo: str
    number: int
    state: IssueState
    state_reason: str | None
    closed_at: datetime | None
    labels: list[str]
    seen_at: datetime


def observe_issue(engine: Engine, obs: IssueObservation) -> None:
    """Keep the closed-issue list and the ticket's issue state in step with GitHub.

    A closed issue is (re)recorded with its close time; an open one is dropped from the list.
    A ticket whose issue is seen open after being closed (or open with GitHub's
    `state_reason: reopened`) gets `issue_reopened_at`, once per close.
    """
    with session_scope(engine) as s:
        closed = s.exec(
            select(ClosedIssue).where(
                ClosedIssue.repo == obs.repo,
                ClosedIssue.number == obs.number,
                ClosedIssue.tracker_key == "",
            )
        ).first()
        if obs.state == IssueState.CLOSED and obs.closed_at is not None:
            closed = closed or ClosedIssue(
                repo=obs.repo, number=obs.number, closed_at=obs.closed_at
            )
            closed.closed_at, closed.labels = obs.closed_at, json.dumps(obs.labels)
            s.add(closed)
        elif closed is not None:
            s.delete(closed)
        _observe_ticket(s, obs)


def _observe_ticket(s: Session, obs: IssueObservation) -> None:
    ticket = s.exec(
        select(Ticket).where(
            Ticket.provider == Provider.GITHUB, Ticket.repo == obs.repo, Ticket.number == obs.number
        )
    ).first()
    if ticket is None:
        return
    if obs.state == IssueState.CLOSED:
        ticket.issue_closed_at = obs.closed_at or ticket.issue_closed_at
    else:
        was_closed = ticket.issue_state == IssueState.CLOSED or obs.state_reason == "reopened"
        last_close, last_reopen = ticket.issue_closed_at, ticket.issue_reopened_at
        fresh = last_reopen is None or (
            last_close is not None and _aware(last_reopen) < _aware(last_close)
        )
        if was_closed and fresh:
            ticket.issue_reopened_at = obs.seen_at
    ticket.issue_state, ticket.labels = obs.state, json.dumps(obs.labels)
    s.add(ticket)


def tracked_repos(engine: Engine) -> list[str]:
    """Repositories with at least one GitHub ticket."""
    with session_scope(engine) as s:
        rows = s.exec(
            select(Ticket.repo).where(Ticket.provider == Provider.GITHUB).distinct()
        ).all()
        return sorted(rows)


def get_cursor(engine: Engine, repo: str) -> SyncCursor:
    with session_scope(engine) as s:
        return s.get(SyncCursor, repo) or SyncCursor(repo=repo)


def save_cursor(
    engine: Engine, repo: str, *, issues_until: datetime | None, commits_until: datetime | None
) -> None:
    with session_scope(engine) as s:
        row = s.get(SyncCursor, repo) or SyncCursor(repo=repo)
        row.issues_until = issues_until or row.issues_until
        row.commits_until = commits_until or row.commits_until
        s.add(row)
