"""The shapes screens and handlers share: a screen's verdict, a handler's result and deps."""

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from worker.github.protocol import GitHubClient
from worker.linear.protocol import LinearClient
from worker.store.models import DeliveryStatus
from worker.tracker import LinearTrust

IGNORE = 202


@dataclass(frozen=True)
class Verdict:
    """Keep the delivery (store and enqueue it) or answer without keeping it."""

    keep: bool
    status: int
    message: str


ACCEPT = Verdict(True, 202, "accepted")


def ignore(why: str) -> Verdict:
    """A delivery answered 2xx and dropped."""
    return Verdict(False, IGNORE, f"ignored: {why}")


@dataclass(frozen=True)
class IntakeDeps:
    """What handlers may touch."""

    engine: Engine
    github: GitHubClient
    trigger_label: str
    enqueue_run: Callable[[int], None]
    max_fix_runs: int = 2
    trusted_check_apps: frozenset[str] = frozenset({"github-actions"})
    """Slugs of the apps whose failed checks may start a fix run."""
    linear: LinearClient | None = None
    """Linear, when configured (`BURNDOWN_LINEAR_API_KEY`)."""
    linear_repos: dict[str, str] = field(default_factory=dict)
    """Linear team key (or `TEAM/label`) to repository."""
    linear_trust: LinearTrust = field(default_factory=LinearTrust)


@dataclass(frozen=True)
class Handled:
    """How a handler closed a delivery (RECEIVED keeps it pending, for the reconciler)."""

    status: DeliveryStatus
    note: str
    ticket_id: int | None = None
