"""Polling Linear, for a deployment Linear's webhooks cannot reach.

Each mapped team's issues carrying the trigger label, changed since the last poll (a cursor,
`updatedAt`, kept in the store), are read over GraphQL. The history entry that added the label
names who did it; it becomes the `Issue` `update` delivery Linear would have sent, so intake's
trust check, mapping and ticket claim are the webhook path's own. A label already acted on (by
a webhook's delivery or an earlier poll: the ticket was queued after it) is left alone, and
intake checks the same again, so polling and webhooks never start a ticket twice.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from sandbox.errors import BurndownError
from worker.linear.protocol import LabelAdded, LinearClient, LinearIssue
from worker.logs import get_logger
from worker.store.models import Provider
from worker.store.polling import get_cursor, save_cursor
from worker.store.repo import record_delivery
from worker.store.trackers import find_tracker_ticket

log = get_logger(__name__)
OVERLAP = timedelta(seconds=5)  # re-read a little before the cursor: clocks and late writes


@dataclass
class LinearPollCounts:
    """What one poll of Linear found."""

    teams: int = 0
    delivered: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def teams_of(mapping: dict[str, str]) -> list[str]:
    """The team keys the repository map names (`ENG` of `ENG` and of `ENG/api`)."""
    return sorted({key.split("/", 1)[0].upper() for key in mapping})


def poll_linear(
    engine: Engine,
    linear: LinearClient,
    teams: list[str],
    trigger_label: str,
    enqueue_delivery: Callable[[str], None],
) -> LinearPollCounts:
    """Poll each team once; one team's failure does not stop the others."""
    counts = LinearPollCounts()
    for team in teams:
        counts.teams += 1
        try:
            _poll_team(engine, linear, team, trigger_label, enqueue_delivery, counts)
        except BurndownError as exc:
            counts.errors.append(f"{team}: {exc}")
            log.warning("linear poll failed", team=team, error=str(exc))
    return counts


def _poll_team(
    engine: Engine,
    linear: LinearClient,
    team: str,
    trigger_label: str,
    enqueue: Callable[[str], None],
    counts: LinearPollCounts,
) -> None:
    source = f"linear-issues:{team}"
    cursor = get_cursor(engine, source)
    seen = _utc(cursor.seen_until) if cursor and cursor.seen_until else None
    issues = linear.team_issues(team, since=seen - OVERLAP if seen else None, label=trigger_label)
    newest = seen
    for issue in issues:
        if issue.updated_at is not None:
            newest = issue.updated_at if newest is None else max(newest, issue.updated_at)
        if issue.closed:
            continue
        delivery = _deliver(engine, linear, issue, trigger_label, enqueue)
        if delivery is not None:
            counts.delivered.append(delivery)
    save_cursor(engine, source, None, newest)


def _deliver(
    engine: Engine,
    linear: LinearClient,
    issue: LinearIssue,
    trigger_label: str,
    enqueue: Callable[[str], None],
) -> str | None:
    trigger = trigger_label.lower()
    added = [h for h in linear.label_history(issue.id) if trigger in _lower(h.labels)]
    if not added:
        return None
    event = added[-1]
    ticket = find_tracker_ticket(engine, Provider.LINEAR, issue.id)
    if ticket is not None and ticket.queued_at and _utc(ticket.queued_at) >= event.created_at:
        return None  # acted on already (a webhook, or an earlier poll)
    delivery = f"linear-poll:{issue.id}:{event.id}"
    body = json.dumps(labelled_payload(issue, event, trigger_label))
    if not record_delivery(engine, delivery, "linear.Issue", "update", body):
        return None
    enqueue(delivery)
    log.info("linear poll found a trigger label", key=issue.identifier, by=event.actor_id)
    return delivery


def labelled_payload(issue: LinearIssue, event: LabelAdded, trigger_label: str) -> dict[str, Any]:
    """The `Issue` `update` body Linear would have sent for this label (labels named by name:
    a poll reads names, and intake compares names)."""
    names = list(dict.fromkeys([*issue.labels, *event.labels]))
    before = [n for n in names if n.lower() != trigger_label.lower()]
    return {
        "action": "update",
        "type": "Issue",
        "actor": {"id": event.actor_id},
        "createdAt": event.created_at.isoformat(),
        "data": {
            "id": issue.id,
            "identifier": issue.identifier,
            "title": issue.title,
            "updatedAt": event.created_at.isoformat(),
            "labelIds": names,
            "labels": [{"id": n, "name": n} for n in names],
            "team": issue.team.model_dump(),
        },
        "updatedFrom": {"labelIds": before},
        "url": issue.url,
        "burndown_polled": True,
    }


def _lower(names: list[str]) -> set[str]:
    return {n.lower() for n in names}


def _utc(moment: datetime) -> datetime:
    """The store may hand back a naive UTC time (SQLite)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
