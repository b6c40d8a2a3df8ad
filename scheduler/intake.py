"""Intake: from a stored delivery to its effect (a queued ticket, ...), once.

`process_delivery` loads a delivery, hands it to the handler of its event, and closes it.
Handlers decide; they are safe to run twice because a closed delivery is never handled again
and the store's claims refuse double work.
"""

import json
from typing import Any

import structlog

from scheduler import followups
from scheduler.handling import Handled, Handler, IntakeDeps
from scheduler.webhooks import BadDelivery, parse_issue_labeled
from worker.github.protocol import WRITE_ROLES
from worker.store.models import DeliveryStatus
from worker.store.repo import close_delivery, get_delivery, queue_ticket, upsert_ticket

log = structlog.get_logger("intake")


def process_delivery(delivery_id: str, deps: IntakeDeps) -> DeliveryStatus | None:
    """Handle a stored delivery once; None when it is unknown or already handled."""
    delivery = get_delivery(deps.engine, delivery_id)
    if delivery is None or delivery.status != DeliveryStatus.RECEIVED:
        return None
    handler = HANDLERS.get(delivery.event)
    try:
        payload = json.loads(delivery.payload)
        done = handler(payload, deps) if handler else Handled(DeliveryStatus.IGNORED, "no handler")
    except (BadDelivery, ValueError) as exc:
        done = Handled(DeliveryStatus.IGNORED, str(exc))
    close_delivery(deps.engine, delivery_id, done.status, done.note, done.ticket_id)
    log.info(
        "delivery handled",
        delivery=delivery_id,
        gh_event=delivery.event,
        status=done.status,
        note=done.note,
        ticket_id=done.ticket_id,
    )
    return done.status


def handle_issue_labeled(payload: dict[str, Any], deps: IntakeDeps) -> Handled:
    """A trusted person's trigger label queues the ticket (once); anyone else gets a polite no."""
    ev = parse_issue_labeled(payload)
    repo, number, who = ev.repository.full_name, ev.issue.number, ev.sender.login
    if ev.label.name != deps.trigger_label or ev.issue.pull_request is not None:
        return Handled(DeliveryStatus.IGNORED, "not a trigger")
    role = deps.github.role(repo, who)
    if role not in WRITE_ROLES:
        deps.github.comment(repo, number, _refusal(who, deps.trigger_label))
        return Handled(
            DeliveryStatus.REJECTED, f"{who} has role {role!r}; write, maintain or admin is needed"
        )
    ticket = upsert_ticket(
        deps.engine,
        repo,
        number,
        title=ev.issue.title,
        body=ev.issue.body or "",
        url=ev.issue.html_url,
        labeled_by=who,
    )
    assert ticket.id is not None
    queued = queue_ticket(deps.engine, ticket.id)
    if queued:
        deps.enqueue_run(ticket.id)
    return Handled(
        DeliveryStatus.PROCESSED, "queued" if queued else "already queued or running", ticket.id
    )


def _refusal(login: str, label: str) -> str:
    return (
        "<!-- burndown -->\n"
        f"Thanks @{login}! Burndown only starts work when the `{label}` label is added by "
        "someone with write, maintain or admin permission on this repository, so it will not "
        "act on this label. A maintainer can add it to start a run."
    )


HANDLERS: dict[str, Handler] = {
    "issues": handle_issue_labeled,
    "issue_comment": followups.handle_issue_comment,
    "pull_request_review": followups.handle_review,
    "check_run": followups.handle_check_run,
}
