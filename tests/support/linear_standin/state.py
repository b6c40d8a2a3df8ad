"""The stand-in's workspace in memory: teams, users, labels, issues, comments, attachments,
agent sessions and their activities; its GraphQL views and the webhook bodies Linear sends."""

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ORG = "7b2b3c0e-0000-4000-8000-00000000c0de"
APP_CLIENT = "0a0c11e7-0000-4000-8000-0000000000a1"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class User:
    id: str
    name: str
    email: str
    admin: bool = False
    guest: bool = False
    active: bool = True
    app: bool = False  # the agent's app user (delegate of issues)


@dataclass
class Team:
    id: str
    key: str
    name: str


@dataclass
class Label:
    id: str
    name: str
    color: str = "#5e6ad2"


@dataclass
class Issue:
    id: str
    number: int
    team: Team
    title: str
    description: str
    creator_id: str
    label_ids: list[str] = field(default_factory=list)
    state_type: str = "unstarted"
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    completed_at: str | None = None
    canceled_at: str | None = None
    delegate_id: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # IssueHistory views

    @property
    def identifier(self) -> str:
        return f"{self.team.key}-{self.number}"

    @property
    def url(self) -> str:
        return f"https://linear.app/acme/issue/{self.identifier}"


@dataclass
class Comment:
    id: str
    issue_id: str
    body: str
    user_id: str
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    edits: int = 0


@dataclass
class Attachment:
    id: str
    issue_id: str
    url: str
    title: str


@dataclass
class Session:
    id: str
    issue_id: str
    creator_id: str
    app_user_id: str
    status: str = "pending"
    created_at: str = field(default_factory=now_iso)


@dataclass
class Activity:
    id: str
    session_id: str
    content: dict[str, Any]
    signal: str | None
    user_id: str
    created_at: str = field(default_factory=now_iso)


@dataclass
class Workspace:
    """Everything the stand-in keeps; one lock, since requests come on many threads."""

    users: dict[str, User] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)
    issues: dict[str, Issue] = field(default_factory=dict)
    comments: dict[str, Comment] = field(default_factory=dict)
    attachments: dict[str, Attachment] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    activities: list[Activity] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    viewer: str = ""  # the user the API key belongs to (the bot, or the app user)

    def find_issue(self, key: str) -> Issue | None:
        """By id or identifier (ENG-123), as Linear's `issue(id:)` accepts both."""
        with self.lock:
            for issue in self.issues.values():
                if key in (issue.id, issue.identifier):
                    return issue
        return None

    def label_named(self, name: str) -> Label:
        with self.lock:
            for label in self.labels.values():
                if label.name.lower() == name.lower():
                    return label
            label = Label(new_id(), name)
            self.labels[label.id] = label
            return label

    # GraphQL views: what `issue`, `issues`, `user`, `comment` answer (dicts: graphql-core's
    # default resolver reads their keys)

    def issue_view(self, issue: Issue) -> dict[str, Any]:
        with self.lock:
            labels = [self.label_view(self.labels[i]) for i in issue.label_ids]
            return {
                "id": issue.id,
                "identifier": issue.identifier,
                "number": issue.number,
                "title": issue.title,
                "description": issue.description,
                "url": issue.url,
                "createdAt": issue.created_at,
                "updatedAt": issue.updated_at,
                "completedAt": issue.completed_at,
                "canceledAt": issue.canceled_at,
                "state": {"type": issue.state_type, "name": issue.state_type.title()},
                "team": self.team_view(issue.team),
                "labels": {"nodes": labels},
                "labelIds": list(issue.label_ids),
                "history": {"nodes": list(issue.history)},
            }

    @staticmethod
    def team_view(team: Team) -> dict[str, Any]:
        return {"id": team.id, "key": team.key, "name": team.name}

    @staticmethod
    def label_view(label: Label) -> dict[str, Any]:
        return {"id": label.id, "name": label.name, "color": label.color}

    @staticmethod
    def user_view(user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "name": user.name,
            "displayName": user.name.split()[0].lower(),
            "email": user.email,
            "admin": user.admin,
            "guest": user.guest,
            "active": user.active,
        }

    @staticmethod
    def comment_view(comment: Comment) -> dict[str, Any]:
        return {"id": comment.id, "body": comment.body, "createdAt": comment.created_at}
