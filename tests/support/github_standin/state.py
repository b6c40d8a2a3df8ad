"""In-memory state of the GitHub stand-in: users, tokens, repositories, issues and pulls.

Everything here is guarded by :attr:`State.lock`; callers take it around every read or write.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")
"""Repository roles from weakest to strongest."""


def now() -> datetime:
    """Current UTC time truncated to whole seconds, as GitHub reports it."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    """GitHub's timestamp format: ``2017-10-10T16:00:00Z``."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset); naive values count as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def at_least(role: str, needed: str) -> bool:
    """True when ``role`` grants everything ``needed`` grants."""
    return PERMISSIONS.index(role) >= PERMISSIONS.index(needed)


@dataclass
class User:
    login: str
    id: int
    created_at: datetime
    type: str = "User"


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class Comment:
    id: int
    issue_number: int
    body: str
    author: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Status:
    id: int
    sha: str
    state: str
    target_url: str | None
    description: str | None
    context: str
    creator: str
    created_at: datetime


@dataclass
class Pull:
    """The pull-request half of an :class:`Issue` (GitHub numbers both from one sequence)."""

    id: int
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    draft: bool = False
    maintainer_can_modify: bool = False
    requested_reviewers: list[str] = field(default_factory=list)
    merged_at: datetime | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None


@dataclass
class IssueEvent:
    """A timeline event of an issue (`labeled`, `unlabeled`), as `/issues/{n}/events` lists."""

    id: int
    event: str
    actor: str
    label: str
    created_at: datetime


@dataclass
class Issue:
    number: int
    id: int
    title: str
    body: str | None
    author: str
    created_at: datetime
    updated_at: datetime
    labels: list[str] = field(default_factory=list)
    """Label names in the order they were added (canonical spelling from the repository)."""
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    pull: Pull | None = None
    events: list[IssueEvent] = field(default_factory=list)
    reactions: list[tuple[int, str, str, datetime]] = field(default_factory=list)
    """(id, user login, content, created_at) per reaction on the issue itself."""

    def touch(self) -> None:
        self.updated_at = now()

    def set_state(self, state: str, actor: str, reason: str | None = None) -> None:
        if state == self.state:
            return
        self.state = state
        if state == "closed":
            self.closed_at, self.closed_by = now(), actor
            self.state_reason = reason or "completed"
        else:
            self.closed_at, self.closed_by = None, None
            self.state_reason = "reopened"
        self.touch()


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    path: Path
    default_branch: str
    private: bool
    created_at: datetime
    pushed_at: datetime
    permissions: dict[str, str] = field(default_factory=dict)
    """Explicit collaborator roles by lower-case login."""
    labels: dict[str, Label] = field(default_factory=dict)
    """Repository labels by lower-case name."""
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def role(self, login: str) -> str:
        """Effective role of ``login``: owner is admin; anyone can read a public repository."""
        if login.lower() == self.owner.lower():
            return "admin"
        role = self.permissions.get(login.lower(), "none")
        if not self.private and role == "none":
            return "read"
        return role

    def issue_comments(self, number: int) -> list[Comment]:
        return sorted(
            (c for c in self.comments.values() if c.issue_number == number), key=lambda c: c.id
        )

    def label(self, name: str, ids: itertools.count[int]) -> Label:
        """The repository label named ``name`` (case-insensitively), created if missing."""
        found = self.labels.get(name.lower())
        if found is None:
            found = self.labels[name.lower()] = Label(id=next(ids), name=name)
        return found


class State:
    """Users, tokens and repositories of one stand-in; guard every access with :attr:`lock`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.ids: itertools.count[int] = itertools.count(1000)
        self.users: dict[str, User] = {}
        self.tokens: dict[str, str] = {}
        self.repos: dict[str, Repo] = {}

    def ensure_user(self, login: str) -> User:
        """The user ``login`` (case-insensitively), registered if unknown."""
        user = self.users.get(login.lower())
        if user is None:
            user = self.users[login.lower()] = User(
                login=login, id=next(self.ids), created_at=now()
            )
        return user

    def user_for_token(self, token: str) -> User | None:
        login = self.tokens.get(token)
        return None if login is None else self.users[login.lower()]

    def repo(self, full_name: str) -> Repo | None:
        return self.repos.get(full_name.lower())

    def repo_by_id(self, repo_id: int) -> Repo | None:
        return next((r for r in self.repos.values() if r.id == repo_id), None)

    def require_repo(self, full_name: str) -> Repo:
        repo = self.repo(full_name)
        if repo is None:
            raise KeyError(f"no repository {full_name!r} in the stand-in")
        return repo
