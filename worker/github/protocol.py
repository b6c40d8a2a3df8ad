"""What Burndown needs from GitHub, as plain models and one Protocol."""

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


class PullRequest(BaseModel):
    number: int
    url: str
    head: str
    base: str
    draft: bool = False


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

    def comment(self, full_name: str, number: int, body: str) -> str:
        """Comment on an issue or pull request; returns the comment's URL."""
        ...

    def find_open_pull(self, full_name: str, head_branch: str) -> PullRequest | None:
        """The open pull request whose head is `head_branch` in the same repository, if any."""
        ...

    def open_pull(
        self, full_name: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequest:
        """Open a pull request."""
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
