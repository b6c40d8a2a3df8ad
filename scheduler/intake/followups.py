"""Follow-ups on the agent's own pull requests: a `/burndown` comment or a review asking for
changes from a trusted person, or a failed check, queue a new run on the same branch.

Comments and reviews by people without write access never reach the agent. A ticket that is
busy keeps the delivery pending; the reconciler hands it over again once the ticket is free.
"""

from scheduler.intake.cancel import stop
from scheduler.intake.payloads import CheckRun, IssueComment, PullRequestReview
from scheduler.intake.shapes import ACCEPT, Handled, IntakeDeps, Verdict, ignore
from worker.branches import is_agent_branch
from worker.github.protocol import WRITE_ROLES
from worker.logs import get_logger
from worker.store.models import DeliveryStatus, RunKind
from worker.store.repo import count_runs, find_ticket, queue_ticket, ticket_for_pull

log = get_logger(__name__)

COMMAND = "/burndown"
STOP = "stop"
FAILED_CHECK = {"failure", "timed_out"}
MAX_FEEDBACK = 8000


def screen_comment(ev: IssueComment, _: str) -> Verdict:
    """Keep `/burndown` comments on pull requests, and `/burndown stop` on issues too."""
    if not ev.comment.body.lstrip().startswith(COMMAND):
        return ignore(f"comment does not start with {COMMAND}")
    if ev.issue.pull_request is None and not _is_stop(ev.comment.body):
        return ignore("not a new pull request comment")
    return ACCEPT


def _is_stop(body: str) -> bool:
    words = body.lstrip().removeprefix(COMMAND).split()
    return bool(words) and words[0].lower() == STOP


def screen_review(ev: PullRequestReview, _: str) -> Verdict:
    """Keep reviews requesting changes on agent branches."""
    if ev.review.state.lower() != "changes_requested":
        return ignore("not a review requesting changes")
    if not is_agent_branch(ev.pull_request.head.ref):
        return ignore("not an agent pull request")
    return ACCEPT


def screen_check(ev: CheckRun, _: str) -> Verdict:
    """Keep failed checks on a commit of an agent pull request."""
    if ev.check_run.conclusion not in FAILED_CHECK:
        return ignore("not a failed check")
    if not any(is_agent_branch(p.head.ref) for p in ev.check_run.pull_requests):
        return ignore("not on an agent pull request")
    return ACCEPT


def _queue(deps: IntakeDeps, repo: str, pr: int, kind: RunKind, feedback: str, who: str) -> Handled:
    ticket = ticket_for_pull(deps.engine, repo, pr)
    if ticket is None or ticket.id is None:
        return Handled(DeliveryStatus.IGNORED, f"#{pr} is not a pull request of Burndown's")
    if kind == RunKind.FIX and count_runs(deps.engine, ticket.id, RunKind.FIX) >= deps.max_fix_runs:
        return Handled(
            DeliveryStatus.IGNORED,
            f"the limit of {deps.max_fix_runs} fix runs is reached",
            ticket.id,
        )
    if not queue_ticket(
        deps.engine, ticket.id, kind=kind, feedback=feedback[:MAX_FEEDBACK], requested_by=who
    ):
        return Handled(DeliveryStatus.RECEIVED, "ticket busy; the reconciler retries", ticket.id)
    deps.enqueue_run(ticket.id)
    return Handled(DeliveryStatus.PROCESSED, f"queued a {kind} run", ticket.id)


def _trusted(deps: IntakeDeps, repo: str, who: str) -> bool:
    return deps.github.role(repo, who) in WRITE_ROLES


def handle_comment(ev: IssueComment, deps: IntakeDeps) -> Handled:
    """A trusted `/burndown ...` comment: a follow-up run with the rest as feedback."""
    repo, who = ev.repository.full_name, ev.comment.user.login
    if not _trusted(deps, repo, who):
        return Handled(DeliveryStatus.REJECTED, f"{who} may not instruct the agent")
    if _is_stop(ev.comment.body):
        ticket = (
            ticket_for_pull(deps.engine, repo, ev.issue.number)
            if ev.issue.pull_request is not None
            else find_ticket(deps.engine, repo, ev.issue.number)
        )
        if ticket is None:
            return Handled(DeliveryStatus.IGNORED, "not a ticket of Burndown's")
        return stop(deps, ticket.repo, ticket.number, f"@{who} asked to stop")
    feedback = ev.comment.body.lstrip().removeprefix(COMMAND).strip()
    return _queue(deps, repo, ev.issue.number, RunKind.FOLLOWUP, feedback or "Please revise.", who)


def handle_review(ev: PullRequestReview, deps: IntakeDeps) -> Handled:
    """A trusted review requesting changes: a follow-up run with the review as feedback."""
    repo, who = ev.repository.full_name, ev.review.user.login
    if not _trusted(deps, repo, who):
        return Handled(DeliveryStatus.REJECTED, f"{who} may not instruct the agent")
    body = ev.review.body or "Changes were requested."
    return _queue(deps, repo, ev.pull_request.number, RunKind.FOLLOWUP, body, who)


def handle_check(ev: CheckRun, deps: IntakeDeps) -> Handled:
    """A failed check of a trusted app (`BURNDOWN_TRUSTED_CHECK_APPS`) on the current head of
    an agent pull request: a fix run, with the check's text bounded (`MAX_FEEDBACK`)."""
    run = ev.check_run
    app = run.app.slug if run.app else None
    if app not in deps.trusted_check_apps:
        # Anyone may install an app that reports checks: its text must not instruct the agent.
        log.info("check from an untrusted app ignored", app=app, check=run.name)
        return Handled(DeliveryStatus.IGNORED, f"the check's app {app!r} is not trusted")
    prs = [
        p for p in run.pull_requests if is_agent_branch(p.head.ref) and p.head.sha == run.head_sha
    ]
    if not prs:
        return Handled(DeliveryStatus.IGNORED, "the check ran on an older commit")
    out = run.output
    feedback = (
        f"The check `{run.name}` ended with `{run.conclusion}`.\n\n"
        f"{out.title or ''}\n\n{out.summary or ''}\n\n{out.text or ''}"
    )
    return _queue(deps, ev.repository.full_name, prs[0].number, RunKind.FIX, feedback.strip(), "")
