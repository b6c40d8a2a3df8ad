"""Which webhook deliveries are worth keeping: a cheap look at the body, no I/O.

Each event with something to do has a screen here and a handler in `scheduler.intake`;
everything else is answered 2xx and dropped.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scheduler.webhooks import BadDelivery, parse_issue_labeled
from worker.run_plan import harness_label


@dataclass(frozen=True)
class Verdict:
    """Keep the delivery (store and enqueue it) or answer without keeping it."""

    keep: bool
    status: int
    message: str


IGNORE = 202
Screen = Callable[[dict[str, Any], str], Verdict]


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


SCREENS: dict[str, Screen] = {
    "issues": screen_issues,
}


def screen(event: str, payload: dict[str, Any], trigger_label: str) -> Verdict:
    """The verdict on one delivery of `event`."""
    if event == "ping":
        return Verdict(False, 200, "pong")
    check = SCREENS.get(event)
    if check is None:
        return Verdict(False, IGNORE, f"ignored: {event}.{payload.get('action')}")
    return check(payload, trigger_label)
