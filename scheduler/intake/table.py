"""The one table of webhook events Burndown acts on: (event, action) -> payload model, screen
and handler. Everything not in it is answered 2xx and dropped.

A screen is a cheap look at the validated body, no I/O, run by the API before the delivery is
stored; the handler runs in intake, on the stored delivery, and may call GitHub and the store.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from scheduler.intake import cancel, followups, labels, pulls
from scheduler.intake.linear import handlers as linear
from scheduler.intake.payloads import (
    BadDelivery,
    CheckRun,
    IssueClosed,
    IssueComment,
    IssueLabeled,
    IssueUnlabeled,
    PullRequestEvent,
    PullRequestReview,
    parse,
)
from scheduler.intake.shapes import Handled, IntakeDeps, Verdict, ignore
from worker.store.models import DeliveryStatus

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Route(Generic[M]):
    """How one (event, action) is read, screened and handled."""

    model: type[M]
    screen: Callable[[M, str], Verdict]
    handler: Callable[[M, IntakeDeps], Handled]


TABLE: dict[tuple[str, str], Route[Any]] = {
    ("issues", "labeled"): Route(IssueLabeled, labels.screen, labels.handle),
    ("issues", "unlabeled"): Route(
        IssueUnlabeled, cancel.screen_unlabeled, cancel.handle_unlabeled
    ),
    ("issues", "closed"): Route(IssueClosed, cancel.screen_closed, cancel.handle_closed),
    ("issue_comment", "created"): Route(
        IssueComment, followups.screen_comment, followups.handle_comment
    ),
    ("pull_request_review", "submitted"): Route(
        PullRequestReview, followups.screen_review, followups.handle_review
    ),
    ("check_run", "completed"): Route(CheckRun, followups.screen_check, followups.handle_check),
    ("pull_request", "closed"): Route(PullRequestEvent, pulls.screen, pulls.handle),
    ("pull_request", "reopened"): Route(PullRequestEvent, pulls.screen, pulls.handle),
}


def _route(event: str, payload: dict[str, Any]) -> Route[Any] | None:
    action = payload.get("action")
    return TABLE.get((event, action)) if isinstance(action, str) else None


def screen(event: str, payload: dict[str, Any], trigger_label: str) -> Verdict:
    """The API's verdict on one delivery of `event`: keep it, drop it, or a 400."""
    if event == "ping":
        return Verdict(False, 200, "pong")
    route = _route(event, payload)
    if route is None:
        return ignore(f"{event}.{payload.get('action')}")
    try:
        ev = parse(route.model, payload, f"{event}.{payload['action']}")
    except BadDelivery as exc:
        return Verdict(False, 400, str(exc))
    return route.screen(ev, trigger_label)


def handle(event: str, payload: dict[str, Any], deps: IntakeDeps) -> Handled:
    """Intake's handling of a stored delivery; `BadDelivery` when its body is malformed."""
    if event.startswith("linear."):
        return linear.handle(event, payload, deps)
    route = _route(event, payload)
    if route is None:
        return Handled(DeliveryStatus.IGNORED, "no handler")
    return route.handler(parse(route.model, payload, f"{event}.{payload['action']}"), deps)
