"""Polling's store: a cursor per polled source, and whether an issue was already acted on."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from worker.store.db import session_scope
from worker.store.models import Delivery, PollCursor, Provider, Ticket, utcnow

WEBHOOK_SKEW = timedelta(seconds=5)
"""A webhook delivery about a label event may be stored slightly before GitHub's event time."""


def get_cursor(engine: Engine, source: str) -> PollCursor | None:
    """Where polling `source` stopped, or None before its first poll."""
    with session_scope(engine) as s:
        return s.get(PollCursor, source)


def save_cursor(engine: Engine, source: str, etag: str | None, seen_until: datetime | None) -> None:
    """Record one poll of `source`: its answer's ETag and the newest change seen."""
    with session_scope(engine) as s:
        row = s.get(PollCursor, source) or PollCursor(source=source)
        row.etag, row.seen_until, row.polled_at = etag, seen_until, utcnow()
        s.add(row)


def acted_on(
    engine: Engine,
    repo: str,
    number: int,
    since: datetime,
    provider: Provider = Provider.GITHUB,
) -> bool:
    """Whether the issue's ticket was queued at or after `since`, or a `labeled` delivery for
    it (a webhook's, or an earlier poll's) arrived then: the label event needs nothing more."""
    since = _aware(since)
    with session_scope(engine) as s:
        ticket = s.exec(
            select(Ticket).where(
                Ticket.provider == provider, Ticket.repo == repo, Ticket.number == number
            )
        ).first()
        if ticket is not None and ticket.queued_at and _aware(ticket.queued_at) >= since:
            return True
        recent = s.exec(
            select(Delivery.payload).where(
                Delivery.event == "issues",
                Delivery.action == "labeled",
                col(Delivery.received_at) >= since - WEBHOOK_SKEW,
            )
        )
        return any(_is_about(payload, repo, number) for payload in recent)


def _is_about(payload: str, repo: str, number: int) -> bool:
    try:
        data = json.loads(payload)
        same_repo = str(data["repository"]["full_name"]).lower() == repo.lower()
        return same_repo and int(data["issue"]["number"]) == number
    except (ValueError, KeyError, TypeError):
        return False


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def comment_delivered(engine: Engine, comment_id: int, since: datetime) -> bool:
    """Whether an `issue_comment` delivery (a webhook's) about this comment arrived after
    `since` (the comment's time): polling then leaves it alone."""
    with session_scope(engine) as s:
        recent = s.exec(
            select(Delivery.payload).where(
                Delivery.event == "issue_comment",
                col(Delivery.received_at) >= _aware(since) - WEBHOOK_SKEW,
            )
        )
        return any(_comment_id(payload) == comment_id for payload in recent)


def _comment_id(payload: str) -> int | None:
    try:
        return int(json.loads(payload)["comment"]["id"])
    except (ValueError, KeyError, TypeError):
        return None
