"""What Burndown needs from Linear, as plain models and one Protocol."""

import uuid
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

CLOSED_STATES = frozenset({"completed", "canceled"})
"""Workflow state types of an issue that is over."""

_KEYS = uuid.UUID("6f1d2a52-8f3e-4c55-9a57-6c8b0d1e0b12")


class LinearTeam(BaseModel):
    id: str
    key: str
    name: str = ""


class LinearIssue(BaseModel):
    """One Linear issue as the pipeline and intake read it."""

    id: str
    identifier: str  # ENG-123
    number: int
    title: str
    description: str = ""
    url: str
    team: LinearTeam
    state_type: str  # triage, backlog, unstarted, started, completed, canceled
    labels: list[str] = []
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    canceled_at: datetime | None = None

    @property
    def closed(self) -> bool:
        return self.state_type in CLOSED_STATES

    @property
    def closed_at(self) -> datetime | None:
        return self.completed_at or self.canceled_at


class LinearUser(BaseModel):
    """A workspace member, with what the trust check reads."""

    id: str
    name: str
    display_name: str = ""
    email: str = ""
    admin: bool = False
    guest: bool = False
    active: bool = True

    @property
    def role(self) -> str:
        """admin, member or guest."""
        return "admin" if self.admin else "guest" if self.guest else "member"


class LabelAdded(BaseModel):
    """An entry of an issue's history that added labels: who, when, which."""

    id: str
    actor_id: str | None
    labels: list[str]
    created_at: datetime


class LinearClient(Protocol):
    """The Linear calls of intake and the pipeline. Keyed writes carry a client-chosen id
    derived from the key (`key_id`), so a retried write never posts twice."""

    def issue(self, issue_id: str) -> LinearIssue:
        """One issue (by id or identifier) with its current title, description, state, labels."""
        ...

    def user(self, user_id: str) -> LinearUser:
        """One workspace member."""
        ...

    def comment(self, issue_id: str, body: str, key: str | None = None) -> str:
        """Comment on an issue; returns the comment's id. With a `key`, written once: the
        comment with that key is edited instead of posting a second one."""
        ...

    def attach_url(self, issue_id: str, url: str, title: str) -> None:
        """Attach a link (the pull request) to the issue; once per (issue, url)."""
        ...

    def agent_activity(
        self, session_id: str, content: dict[str, Any], key: str | None = None
    ) -> None:
        """Add an activity (`{type: thought|action|response|error, ...}`) to an agent session;
        with a `key`, at most once."""
        ...

    def team_issues(
        self, team_key: str, *, since: datetime | None, label: str | None = None
    ) -> list[LinearIssue]:
        """The issues of the team (by key, `ENG`) updated after `since` (all: None), with
        `label` when given, oldest change first."""
        ...

    def label_history(self, issue_id: str) -> list[LabelAdded]:
        """The issue's history entries that added labels, oldest first (who added the
        trigger label: the trust check of polling)."""
        ...


def key_id(*parts: str) -> str:
    """The UUID of a keyed write: the same parts always give the same id."""
    return str(uuid.uuid5(_KEYS, "\x1f".join(parts)))
