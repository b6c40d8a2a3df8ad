"""What Burndown needs from GitHub, as plain models and one Protocol."""

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

WRITE_ROLES = frozenset({"admin", "maintain", "write"})


class Repository(BaseModel):
    full_name: str
    clone_url: str
    default_branch: str


class Issue(BaseModel):
    repo: str
    number: int
    title: str
    body: str
    url: str
    author: str
    state: str
    labels: list[str]
    updated_at: datetime | None = None
    is_pull: bool = False


class Polled(BaseModel):
    """A conditional read: `issues` is None when GitHub answered 304 Not Modified."""

    etag: str | None
    issues: list[Issue] | None


class IssueComment(BaseModel):
    """A comment on an issue or pull request (`is_pull`), as the repository's list gives it."""

    id: int
    number: int
    body: str
    author: str
    is_pull: bool
    updated_at: datetime


class PolledComments(BaseModel):
    """A conditional read of comments: `comments` is None when GitHub answered 304."""

    etag: str | None
    comments: list[IssueComment] | None


class LabelEvent(BaseModel):
    """A `labeled` event of an issue: who added which label, when."""

    id: int
    label: str
    actor: str
    created_at: datetime


class PullRequest(BaseModel):
    number: int
    url: str
    head: str
    base: str
    draft: bool = False
    state: str = "open"  # open or closed, as GitHub says; `merged` tells a merge apart
    merged: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    head_sha: str | None = None


class IssueState(BaseModel):
    """Where an issue (or pull request: `is_pull`) stands, from the repository's issue list."""

    number: int
    state: str
    state_reason: str | None = None
    closed_at: datetime | None = None
    updated_at: datetime
    labels: list[str] = []
    is_pull: bool = False


class Commit(BaseModel):
    sha: str
    message: str
    committed_at: datetime


class GitHubClient(Protocol):
    """The GitHub calls of the pipeline and of intake."""

    def get_repo(self, full_name: str) -> Repository:
        """The repository, with its clone URL and default branch."""
        ...

    def get_issue(self, full_name: str, number: int) -> Issue:
        """One issue with its current title, body and labels."""
        ...

    def role(self, full_name: str, login: str) -> str:
        """The person's role on the repository: admin, maintain, write, triage, read or none."""
        ...

    def comment(self, full_name: str, number: int, body: str, key: str | None = None) -> str:
        """Comment on an issue or pull request; returns the comment's URL. With a `key`, the
        comment carries it as a hidden marker and is written once: an existing comment with
        that key is edited instead (so a retried write never posts twice)."""
        ...

    def find_open_pull(self, full_name: str, head_branch: str) -> PullRequest | None:
        """The open pull request whose head is `head_branch` in the same repository, if any."""
        ...

    def open_pull(
        self, full_name: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequest:
        """Open a pull request."""
        ...

    def get_pull(self, full_name: str, number: int) -> PullRequest:
        """One pull request with its state: open, closed, merged (and when, and by what commit)."""
        ...

    def issues_updated_since(self, full_name: str, since: datetime) -> list[IssueState]:
        """Every issue and pull request of the repository updated at or after `since`, in any
        state (how the sync finds issues closed, and reopened, in a period)."""
        ...

    def commits_since(self, full_name: str, branch: str, since: datetime) -> list[Commit]:
        """Commits reachable from `branch` committed at or after `since`, newest first."""
        ...

    def update_pull(self, full_name: str, number: int, *, body: str) -> PullRequest:
        """Replace a pull request's body."""
        ...

    def add_labels(self, full_name: str, number: int, labels: list[str]) -> None:
        """Add labels to an issue or pull request."""
        ...

    def request_review(self, full_name: str, number: int, logins: list[str]) -> None:
        """Ask these people to review a pull request."""
        ...

    def open_issues(self, full_name: str, etag: str | None = None) -> Polled:
        """The most recently updated open issues (up to 100, pull requests included and marked),
        asked with `If-None-Match: etag`: a 304 (nothing changed) costs no rate limit."""
        ...

    def comments_since(
        self, full_name: str, since: datetime, etag: str | None = None
    ) -> PolledComments:
        """Comments of the repository's issues and pull requests updated at or after `since`
        (up to 100, oldest first), asked with `If-None-Match: etag`."""
        ...

    def label_events(self, full_name: str, number: int) -> list[LabelEvent]:
        """The issue's `labeled` events, oldest first (who added a label: the trust check)."""
        ...

    def set_status(self, full_name: str, number: int, key: str, body: str) -> str:
        """Write a live status: one comment per `key` on the issue, edited in place at every
        change (a keyed `comment`, kept apart so that a status is never a new message)."""
        ...

    def react(self, full_name: str, number: int, content: str) -> None:
        """Add a reaction (`eyes`, `rocket`, ...) to an issue as the bot (idempotent)."""
        ...


def comment_marker(key: str) -> str:
    """The hidden marker that identifies a keyed comment."""
    return f"<!-- burndown-key: {key} -->"
