"""Which webhook deliveries are worth keeping: a cheap look at the body, no I/O.

Each event with something to do has a screen here and a handler in `scheduler.intake`;
everything else is answered 2xx and dropped.
"""

from typing import Any

from scheduler import followups
from scheduler.handling import IGNORE, Screen, Verdict
from scheduler.webhooks import BadDelivery, parse_issue_labeled, parse_pull_request
from worker.run_plan import harness_label

AGENT_BRANCH_PREFIX = "burndown/"


def screen_issues(payload: dict[str, Any], trigger_label: str) -> Verdict:
    if payload.get("action") != "labeled":
        return Verdict(False, IGNORE, f"ignored: issues.{payload.get('action')}")
    try:
        labeled = parse_issue_labeled(payload)
    except BadDelivery as exc:
        return Verdict(False, 400, str(exc))
    name = labeled.label.name
    if name != trigger_label and harness_label(name, trigger_label) is None:
        return Verdict(False, IGNORE, f"ignored: label {labeled.label.name!r}")
    return Verdict(True, 202, "accepted")


def screen_pull_request(payload: dict[str, Any], trigger_label: str) -> Verdict:
    """Closed (merged or not) and reopened pull requests on an agent branch: lifecycle."""
    action = payload.get("action")
    if action not in ("closed", "reopened"):
        return Verdict(False, IGNORE, f"ignored: pull_request.{action}")
    try:
        ev = parse_pull_request(payload)
    except BadDelivery as exc:
        return Verdict(False, 400, str(exc))
    if not ev.pull_request.head.ref.startswith(AGENT_BRANCH_PREFIX):
        return Verdict(False, IGNORE, "ignored: not an agent branch")
    return Verdict(True, 202, "accepted")


SCREENS: dict[str, Screen] = {
    "issues": screen_issues,
    "issue_comment": followups.screen_issue_comment,
    "pull_request_review": followups.screen_review,
    "check_run": followups.screen_check_run,
    "pull_request": screen_pull_request,
}


def screen(event: str, payload: dict[str, Any], trigger_label: str) -> Verdict:
    """The verdict on one delivery of `event`."""
    if event == "ping":
        return Verdict(False, 200, "pong")
    check = SCREENS.get(event)
    if check is None:
        return Verdict(False, IGNORE, f"ignored: {event}.{payload.get('action')}")
    return check(payload, trigger_label)
