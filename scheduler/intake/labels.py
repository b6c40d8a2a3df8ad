"""`issues.labeled`: the trigger label (or `<trigger>:<harness>`) queues the issue's ticket."""

from sandbox.errors import BurndownError
from scheduler.intake.payloads import IssueLabeled
from scheduler.intake.shapes import ACCEPT, Handled, IntakeDeps, Verdict, ignore
from worker import live_status, texts
from worker.github.protocol import WRITE_ROLES
from worker.run_plan import harness_label, ticket_choice
from worker.sanitize import clean
from worker.store.models import DeliveryStatus
from worker.store.repo import queue_ticket, upsert_ticket


def _is_trigger(name: str, trigger_label: str) -> bool:
    return name == trigger_label or harness_label(name, trigger_label) is not None


def screen(ev: IssueLabeled, trigger_label: str) -> Verdict:
    """Keep trigger labels only."""
    if not _is_trigger(ev.label.name, trigger_label):
        return ignore(f"label {ev.label.name!r}")
    return ACCEPT


def handle(ev: IssueLabeled, deps: IntakeDeps) -> Handled:
    """A trusted person's trigger label (`burndown`, or `burndown:<harness>` choosing the
    harness) queues the ticket (once); anyone else gets a polite no. A harness choice that is
    unknown or ambiguous gets a comment listing the valid ones, and no run."""
    repo, number, who = ev.repository.full_name, ev.issue.number, ev.sender.login
    label = ev.label.name
    if not _is_trigger(label, deps.trigger_label) or ev.issue.pull_request is not None:
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
        ticket_choice(labels, clean(ev.issue.body or "").text, deps.trigger_label)
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
