"""The ticket's own issue, wherever it lives: GitHub (the repository's issue) or Linear (an
issue mapped to a repository). The pipeline reads the issue, re-checks trust, comments, shows
its live status and links the pull request through `tracker_for`; the pull request itself is
always GitHub's.

For a Linear ticket delegated to the agent (an agent session), the live status is the
session's activities instead of a comment: actions while it runs, a response at the end.
"""

import re
from dataclasses import dataclass
from typing import Any, Protocol

from worker import live_status
from worker.errors import ConfigError, GitHubError, LinearError
from worker.github.protocol import WRITE_ROLES, GitHubClient, Issue
from worker.linear.protocol import LinearClient, LinearUser
from worker.logs import get_logger
from worker.store.models import Provider, Ticket
from worker.texts import MARKER

log = get_logger(__name__)

_STATUS = re.compile(
    r"\*\*Burndown status: (?P<word>[^*:]+?)(?::? (?P<rest>[^*]*))?\*\*(?P<tail>.*)", re.S
)


@dataclass(frozen=True)
class LinearTrust:
    """Who may start work from Linear: listed members (emails or ids) and members of roles."""

    members: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset({"admin", "member"})

    def allows(self, user: LinearUser) -> bool:
        if not user.active:
            return False
        listed = {m.lower() for m in self.members}
        return bool({user.id.lower(), user.email.lower()} & listed) or user.role in self.roles


class Tracker(Protocol):
    """The calls the pipeline makes about a ticket's issue."""

    def current(self, ticket: Ticket) -> Issue:
        """The issue as it stands now (state `open` or `closed`, labels)."""
        ...

    def trusted(self, ticket: Ticket, who: str) -> bool:
        """Whether the person who asked may still ask (a role re-checked at run time)."""
        ...

    def comment(self, ticket: Ticket, body: str, key: str | None = None) -> None:
        """A comment on the issue (keyed: written once). Raises the adapter's error."""
        ...

    def status(self, ticket: Ticket, body: str, *, final: bool = False) -> None:
        """The live status (a comment edited in place, or an agent session's activity)."""
        ...

    def attach_pull(self, ticket: Ticket, url: str, title: str) -> None:
        """Link the pull request to the issue where the tracker has such a thing."""
        ...


@dataclass(frozen=True)
class GitHubTracker:
    """A GitHub issue of the ticket's repository."""

    github: GitHubClient

    def current(self, ticket: Ticket) -> Issue:
        return self.github.get_issue(ticket.repo, ticket.number)

    def trusted(self, ticket: Ticket, who: str) -> bool:
        return self.github.role(ticket.repo, who) in WRITE_ROLES

    def comment(self, ticket: Ticket, body: str, key: str | None = None) -> None:
        self.github.comment(ticket.repo, ticket.number, body, key=key)

    def status(self, ticket: Ticket, body: str, *, final: bool = False) -> None:
        try:
            self.github.set_status(ticket.repo, ticket.number, status_key(ticket), body)
        except GitHubError as exc:
            log.warning("status comment not written", ticket_id=ticket.id, error=str(exc))

    def attach_pull(self, ticket: Ticket, url: str, title: str) -> None:
        return None  # the pull request's `Closes #n` links it


@dataclass(frozen=True)
class LinearTracker:
    """A Linear issue (by its id) whose work goes to the ticket's mapped repository."""

    linear: LinearClient
    trust: LinearTrust

    def current(self, ticket: Ticket) -> Issue:
        issue = self.linear.issue(_issue_id(ticket))
        return Issue(
            repo=ticket.repo,
            number=ticket.number,
            title=issue.title,
            body=issue.description,
            url=issue.url,
            author="",
            state="closed" if issue.closed else "open",
            labels=issue.labels,
            updated_at=issue.updated_at,
        )

    def trusted(self, ticket: Ticket, who: str) -> bool:
        try:
            return self.trust.allows(self.linear.user(who))
        except LinearError as exc:
            log.warning("linear member not read", who=who, error=str(exc))
            return False

    def comment(self, ticket: Ticket, body: str, key: str | None = None) -> None:
        text = linear_text(body)
        if ticket.agent_session_id:
            self.linear.agent_activity(
                ticket.agent_session_id, {"type": "thought", "body": text}, key=key
            )
        else:
            self.linear.comment(_issue_id(ticket), text, key=key)

    def status(self, ticket: Ticket, body: str, *, final: bool = False) -> None:
        try:
            if ticket.agent_session_id:
                content = activity_content(body, final)
                self.linear.agent_activity(ticket.agent_session_id, content)
            else:
                self.linear.comment(_issue_id(ticket), linear_text(body), key=status_key(ticket))
        except LinearError as exc:
            log.warning("linear status not written", ticket_id=ticket.id, error=str(exc))

    def attach_pull(self, ticket: Ticket, url: str, title: str) -> None:
        self.linear.attach_url(_issue_id(ticket), url, title)


def tracker_for(
    ticket: Ticket, github: GitHubClient, linear: LinearClient | None, trust: LinearTrust
) -> Tracker:
    """The tracker of the ticket's issue; `ConfigError` for a Linear ticket without Linear."""
    if ticket.provider == Provider.LINEAR:
        if linear is None:
            raise ConfigError("a Linear ticket, but BURNDOWN_LINEAR_API_KEY is not set")
        return LinearTracker(linear, trust)
    return GitHubTracker(github)


def status_key(ticket: Ticket) -> str:
    """The key of the ticket's status comment (one per ticket, across its runs)."""
    assert ticket.id is not None
    return live_status.status_key(ticket.id)


def linear_text(body: str) -> str:
    """A text for Linear: Burndown's hidden marker cut (Linear would show it)."""
    return body.replace(MARKER, "").strip()


def activity_content(body: str, final: bool) -> dict[str, Any]:
    """A live status as an agent activity: an action while running, the response at the end."""
    text = linear_text(body)
    if final:
        return {"type": "response", "body": text.replace("**", "")}
    m = _STATUS.match(text)
    if m is None:
        return {"type": "thought", "body": text}
    rest = " ".join(p.strip() for p in (m["rest"] or "", m["tail"]) if p and p.strip())
    return {"type": "action", "action": m["word"].strip().capitalize(), "parameter": rest or "-"}


def _issue_id(ticket: Ticket) -> str:
    return ticket.tracker_id or ticket.tracker_key
