"""Follow-ups on the agent's own pull requests: a `/burndown` comment or a review asking for
changes from a trusted person, or a failed check, queue a new run on the same branch.

Comments and reviews by people without write access never reach the agent. A ticket that is
busy keeps the delivery pending; the reconciler hands it over again once the ticket is free.
"""

from typing import Any

from scheduler.handling import IGNORE, Handled, IntakeDeps, Verdict
from worker.github.protocol import WRITE_ROLES
from worker.store.models import DeliveryStatus, RunKind
from worker.store.repo import count_runs, queue_ticket, ticket_for_pull

COMMAND = "/burndown"
AGENT_BRANCH = "burndown/"
FAILED_CHECK = {"failure", "timed_out"}
MAX_FEEDBACK = 8000


def _str(d: Any, *path: str) -> str:
    for key in path:
        d = d.get(key) if isinstance(d, dict) else None
    return d if isinstance(d, str) else ""


def screen_issue_comment(payload: dict[str, Any], _: str) -> Verdict:
    if payload.get("action") != "created" or "pull_request" not in (payload.get("issue") or {}):
        return Verdict(False, IGNORE, "ignored: not a new pull request comment")
    if not _str(payload, "comment", "body").lstrip().startswith(COMMAND):
        return Verdict(False, IGNORE, f"ignored: comment does not start with {COMMAND}")
    return Verdict(True, 202, "accepted")


def screen_review(payload: dict[str, Any], _: str) -> Verdict:
    if (
        payload.get("action") != "submitted"
        or _str(payload, "review", "state").lower() != "changes_requested"
    ):
        return Verdict(False, IGNORE, "ignored: not a review requesting changes")
    if not _str(payload, "pull_request", "head", "ref").startswith(AGENT_BRANCH):
        return Verdict(False, IGNORE, "ignored: not an agent pull request")
    return Verdict(True, 202, "accepted")


def screen_check_run(payload: dict[str, Any], _: str) -> Verdict:
    run = payload.get("check_run") or {}
    if payload.get("action") != "completed" or run.get("conclusion") not in FAILED_CHECK:
        return Verdict(False, IGNORE, "ignored: not a failed check")
    if not any(
        _str(p, "head", "ref").startswith(AGENT_BRANCH) for p in run.get("pull_requests") or []
    ):
        return Verdict(False, IGNORE, "ignored: not on an agent pull request")
    return Verdict(True, 202, "accepted")


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
    return bool(who) and deps.github.role(repo, who) in WRITE_ROLES


def handle_issue_comment(payload: dict[str, Any], deps: IntakeDeps) -> Handled:
    repo, who = _str(payload, "repository", "full_name"), _str(payload, "comment", "user", "login")
    pr = int((payload.get("issue") or {}).get("number") or 0)
    if not _trusted(deps, repo, who):
        return Handled(DeliveryStatus.REJECTED, f"{who} may not instruct the agent")
    feedback = _str(payload, "comment", "body").lstrip().removeprefix(COMMAND).strip()
    return _queue(deps, repo, pr, RunKind.FOLLOWUP, feedback or "Please revise.", who)


def handle_review(payload: dict[str, Any], deps: IntakeDeps) -> Handled:
    repo, who = _str(payload, "repository", "full_name"), _str(payload, "review", "user", "login")
    pr = int((payload.get("pull_request") or {}).get("number") or 0)
    if not _trusted(deps, repo, who):
        return Handled(DeliveryStatus.REJECTED, f"{who} may not instruct the agent")
    body = _str(payload, "review", "body") or "Changes were requested."
    return _queue(deps, repo, pr, RunKind.FOLLOWUP, body, who)


def handle_check_run(payload: dict[str, Any], deps: IntakeDeps) -> Handled:
    run = payload.get("check_run") or {}
    repo = _str(payload, "repository", "full_name")
    prs = [
        p
        for p in run.get("pull_requests") or []
        if _str(p, "head", "ref").startswith(AGENT_BRANCH)
        and _str(p, "head", "sha") == run.get("head_sha")
    ]
    if not prs:
        return Handled(DeliveryStatus.IGNORED, "the check ran on an older commit")
    out = run.get("output") or {}
    feedback = (
        f"The check `{run.get('name')}` ended with `{run.get('conclusion')}`.\n\n"
        f"{out.get('title') or ''}\n\n{out.get('summary') or ''}\n\n{out.get('text') or ''}"
    )
    return _queue(deps, repo, int(prs[0]["number"]), RunKind.FIX, feedback.strip(), "")
