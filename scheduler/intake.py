"""Intake: from a stored delivery to its effect (a queued ticket, ...), once.

`process_delivery` loads a delivery, hands it to the handler of its event, and closes it.
Handlers decide; they are safe to run twice because a closed delivery is never handled again
and the store's claims refuse double work.
"""

import json
from typing import Any

from sandbox.errors import BurndownError
from scheduler import followups
from scheduler.handling import Handled, Handler, IntakeDeps
from scheduler.lifecycle import observation_from_event
from scheduler.webhooks import BadDelivery, parse_issue_labeled, parse_pull_request
from worker import live_status, texts
from worker.github.protocol import WRITE_ROLES
from worker.logs import get_logger
from worker.run_plan import harness_label, ticket_choice
from worker.store.lifecycle import known_pull, observe_pull
from worker.store.models import DeliveryStatus
from worker.store.repo import close_delivery, get_delivery, queue_ticket, upsert_ticket

log = get_logger(__name__)


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
    """A trusted person's trigger label (`burndown`, or `burndown:<harness>` choosing the
    harness) queues the ticket (once); anyone else gets a polite no. A harness choice that is
    unknown or ambiguous gets a comment listing the valid ones, and no run."""
    ev = parse_issue_labeled(payload)
    repo, number, who = ev.repository.full_name, ev.issue.number, ev.sender.login
    label = ev.label.name
    trigger = label == deps.trigger_label or harness_label(label, deps.trigger_label) is not None
    if not trigger or ev.issue.pull_request is not None:
        return Handled(DeliveryStatus.IGNORED, "not a trigger")
    role = deps.github.role(repo, who)
    if role not in WRITE_ROLES:
        deps.github.comment(repo, number, texts.untrusted_labeller(who, deps.trigger_label))
        return Handled(
            DeliveryStatus.REJECTED, f"{who} has role {role!r}; write, maintain or admin is needed"
        )
    live_status.acknowledge(deps.github, repo, number)
    labels = {lb.name for lb in ev.issue.labels} | {label}
    try:
        ticket_choice(labels, ev.issue.body or "", deps.trigger_label)
    except BurndownError as exc:
        deps.github.comment(repo, number, texts.will_not_run(exc))
        return Handled(DeliveryStatus.REJECTED, str(exc))
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
        live_status.show(deps.github, repo, number, ticket.id, texts.status_queued(who))
        deps.enqueue_run(ticket.id)
    return Handled(
        DeliveryStatus.PROCESSED, "queued" if queued else "already queued or running", ticket.id
    )


def handle_pull_request(payload: dict[str, Any], deps: IntakeDeps) -> Handled:
    """A pull request of ours closed, merged or reopened: record it (ordered, idempotent)."""
    ev = parse_pull_request(payload)
    repo, number = ev.repository.full_name, ev.pull_request.number
    if not known_pull(deps.engine, repo, number):
        return Handled(DeliveryStatus.IGNORED, f"{repo}#{number} is not an agent pull request")
    row = observe_pull(deps.engine, observation_from_event(ev))
    return Handled(DeliveryStatus.PROCESSED, f"pull request {repo}#{number} is {row.state}")


HANDLERS: dict[str, Handler] = {
    "issues": handle_issue_labeled,
    "issue_comment": followups.handle_issue_comment,
    "pull_request_review": followups.handle_review,
    "check_run": followups.handle_check_run,
    "pull_request": handle_pull_request,
}
