"""Intake: from a stored delivery to a queued ticket, once, for trusted people only."""

import json
from collections.abc import Callable

import structlog
from sqlalchemy import Engine

from scheduler.webhooks import BadDelivery, parse_issue_labeled
from worker.github.protocol import WRITE_ROLES, GitHubClient
from worker.store.models import DeliveryStatus
from worker.store.repo import close_delivery, get_delivery, queue_ticket, upsert_ticket

log = structlog.get_logger("intake")

Enqueue = Callable[[int], None]


def process_delivery(
    delivery_id: str,
    *,
    engine: Engine,
    github: GitHubClient,
    trigger_label: str,
    enqueue: Enqueue,
) -> DeliveryStatus | None:
    """Act on a stored `issues.labeled` delivery; safe to call twice (a processed delivery is
    left alone, and a ticket already queued or running is not enqueued again)."""
    delivery = get_delivery(engine, delivery_id)
    if delivery is None or delivery.status != DeliveryStatus.RECEIVED:
        return None
    try:
        ev = parse_issue_labeled(json.loads(delivery.payload))
    except (BadDelivery, ValueError) as exc:
        close_delivery(engine, delivery_id, DeliveryStatus.IGNORED, str(exc), None)
        return DeliveryStatus.IGNORED
    repo, number, who = ev.repository.full_name, ev.issue.number, ev.sender.login
    with structlog.contextvars.bound_contextvars(delivery=delivery_id, repo=repo, issue=number):
        if ev.label.name != trigger_label or ev.issue.pull_request is not None:
            close_delivery(engine, delivery_id, DeliveryStatus.IGNORED, "not a trigger", None)
            return DeliveryStatus.IGNORED
        role = github.role(repo, who)
        if role not in WRITE_ROLES:
            github.comment(repo, number, _refusal(who, trigger_label))
            note = f"{who} has role {role!r}; write, maintain or admin is needed"
            close_delivery(engine, delivery_id, DeliveryStatus.REJECTED, note, None)
            log.info("label by untrusted person refused", sender=who, role=role)
            return DeliveryStatus.REJECTED
        ticket = upsert_ticket(
            engine,
            repo,
            number,
            title=ev.issue.title,
            body=ev.issue.body or "",
            url=ev.issue.html_url,
            labeled_by=who,
        )
        assert ticket.id is not None
        queued = queue_ticket(engine, ticket.id)
        if queued:
            enqueue(ticket.id)
        note = "queued" if queued else "already queued or running"
        close_delivery(engine, delivery_id, DeliveryStatus.PROCESSED, note, ticket.id)
        log.info("delivery processed", ticket_id=ticket.id, note=note)
        return DeliveryStatus.PROCESSED


def _refusal(login: str, label: str) -> str:
    return (
        "<!-- burndown -->\n"
        f"Thanks @{login}! Burndown only starts work when the `{label}` label is added by "
        "someone with write, maintain or admin permission on this repository, so it will not "
        "act on this label. A maintainer can add it to start a run."
    )
