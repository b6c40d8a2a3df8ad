"""Polling GitHub, for a deployment no webhook can reach.

Each listed repository's open issues (and its new `/burndown` comments on pull requests:
`scheduler.intake.poll_comments`) are read with `If-None-Match` (a 304 costs no rate
limit). A trigger label newly on an issue becomes the `issues.labeled` delivery GitHub would
have sent, with the person who added it (from the issue's events) as sender, so intake's
trust check, ticket claim and everything after are the webhook path's own. A label event
already acted on (a webhook's delivery, an earlier poll, a queued ticket) is left alone.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from sandbox.errors import BurndownError
from scheduler.intake.poll_comments import poll_comments
from worker.github.protocol import GitHubClient, Issue, LabelEvent
from worker.logs import get_logger
from worker.run_plan import harness_label
from worker.store.polling import acted_on, get_cursor, save_cursor
from worker.store.repo import record_delivery

log = get_logger(__name__)


@dataclass(frozen=True)
class PollDeps:
    """What a poll touches."""

    engine: Engine
    github: GitHubClient
    trigger_label: str
    enqueue_delivery: Callable[[str], None]


@dataclass
class PollCounts:
    """What one poll found."""

    repos: int = 0
    not_modified: int = 0
    delivered: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def poll_repositories(deps: PollDeps, repos: Iterable[str]) -> PollCounts:
    """Poll each repository once; one repository's failure does not stop the others."""
    counts = PollCounts()
    for repo in repos:
        counts.repos += 1
        try:
            poll_repository(deps, repo, counts)
            poll_comments(deps.engine, deps.github, deps.enqueue_delivery, repo, counts.delivered)
        except BurndownError as exc:
            counts.errors.append(f"{repo}: {exc}")
            log.warning("poll failed", repo=repo, error=str(exc))
    return counts


def poll_repository(deps: PollDeps, repo: str, counts: PollCounts) -> None:
    """One conditional read of `repo`'s open issues; new trigger labels become deliveries."""
    source = f"github-issues:{repo}"
    cursor = get_cursor(deps.engine, source)
    polled = deps.github.open_issues(repo, cursor.etag if cursor else None)
    seen_until = _utc(cursor.seen_until) if cursor and cursor.seen_until else None
    if polled.issues is None:
        counts.not_modified += 1
        save_cursor(deps.engine, source, polled.etag, seen_until)
        return
    newest = seen_until
    for issue in polled.issues:
        if issue.is_pull or issue.updated_at is None:
            continue
        newest = issue.updated_at if newest is None else max(newest, issue.updated_at)
        if seen_until is not None and issue.updated_at < seen_until:
            continue  # unchanged since the last poll that read it
        delivery = _deliver_label(deps, repo, issue)
        if delivery is not None:
            counts.delivered.append(delivery)
    save_cursor(deps.engine, source, polled.etag, newest)


def _deliver_label(deps: PollDeps, repo: str, issue: Issue) -> str | None:
    triggers = {lb for lb in issue.labels if is_trigger(lb, deps.trigger_label)}
    if not triggers:
        return None
    events = [e for e in deps.github.label_events(repo, issue.number) if e.label in triggers]
    if not events:
        return None
    event = events[-1]
    if acted_on(deps.engine, repo, issue.number, event.created_at):
        return None
    delivery = f"poll:{repo}#{issue.number}:labeled:{event.id}"
    payload = json.dumps(labeled_payload(repo, issue, event))
    if not record_delivery(deps.engine, delivery, "issues", "labeled", payload):
        return None
    deps.enqueue_delivery(delivery)
    log.info("poll found a trigger label", repo=repo, number=issue.number, by=event.actor)
    return delivery


def is_trigger(label: str, trigger_label: str) -> bool:
    return label == trigger_label or harness_label(label, trigger_label) is not None


def labeled_payload(repo: str, issue: Issue, event: LabelEvent) -> dict[str, Any]:
    """The `issues.labeled` body GitHub would have sent for this label event."""
    return {
        "action": "labeled",
        "label": {"name": event.label},
        "issue": {
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "html_url": issue.url,
            "labels": [{"name": lb} for lb in issue.labels],
            "user": {"login": issue.author},
        },
        "repository": {"full_name": repo},
        "sender": {"login": event.actor},
        "burndown_polled": True,
    }


def _utc(moment: datetime) -> datetime:
    """The store may hand back a naive UTC time (SQLite)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
