"""Stopping a ticket: its trigger label removed, its issue closed, or `/burndown stop` from a
trusted person. A queued ticket is cancelled at once (and the issue told); a running run is
asked to stop, and its heartbeat kills its sandbox within seconds (the run tells the issue)."""

from scheduler.intake.payloads import IssueClosed, IssueUnlabeled
from scheduler.intake.shapes import ACCEPT, Handled, IntakeDeps, Verdict, ignore
from worker import texts
from worker.run_plan import harness_label
from worker.store.liveness import request_cancel
from worker.store.models import DeliveryStatus
from worker.store.repo import find_ticket


def _is_trigger(name: str, trigger_label: str) -> bool:
    return name == trigger_label or harness_label(name, trigger_label) is not None


def screen_unlabeled(ev: IssueUnlabeled, trigger_label: str) -> Verdict:
    """Keep the removal of a trigger label when no other trigger label is left."""
    if not _is_trigger(ev.label.name, trigger_label):
        return ignore(f"label {ev.label.name!r}")
    if any(_is_trigger(lb.name, trigger_label) for lb in ev.issue.labels):
        return ignore("another trigger label is still on the issue")
    return ACCEPT


def screen_closed(ev: IssueClosed, _: str) -> Verdict:
    """Keep closed issues (only the store knows whether one is a ticket)."""
    return ignore("a pull request") if ev.issue.pull_request is not None else ACCEPT


def handle_unlabeled(ev: IssueUnlabeled, deps: IntakeDeps) -> Handled:
    return stop(
        deps,
        ev.repository.full_name,
        ev.issue.number,
        f"@{ev.sender.login} removed the `{ev.label.name}` label",
    )


def handle_closed(ev: IssueClosed, deps: IntakeDeps) -> Handled:
    return stop(deps, ev.repository.full_name, ev.issue.number, "the issue was closed")


def stop(deps: IntakeDeps, repo: str, number: int, why: str) -> Handled:
    """Cancel the ticket of `repo#number`, queued or running."""
    ticket = find_ticket(deps.engine, repo, number)
    if ticket is None or ticket.id is None:
        return Handled(DeliveryStatus.IGNORED, "not a ticket")
    found = request_cancel(deps.engine, ticket.id, why)
    if found.state == "queued":
        deps.github.comment(
            repo, number, texts.cancelled_queued(), key=f"cancel-{ticket.id}-{ticket.attempts}"
        )
    note = {"queued": "cancelled", "running": f"run {found.run_id} asked to stop"}
    return Handled(
        DeliveryStatus.PROCESSED if found.state != "idle" else DeliveryStatus.IGNORED,
        note.get(found.state, "nothing to stop"),
        ticket.id,
    )
