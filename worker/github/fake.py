"""An in-memory `GitHubClient` for unit tests."""

from dataclasses import dataclass, field
from datetime import datetime

from worker.errors import GitHubError
from worker.github.protocol import (
    Commit,
    Issue,
    IssueComment,
    IssueState,
    LabelEvent,
    Polled,
    PolledComments,
    PullRequest,
    Repository,
    comment_marker,
)


@dataclass
class FakeGitHub:
    """Repositories, issues, roles, comments and pull requests held in dicts."""

    repos: dict[str, Repository] = field(default_factory=dict)
    issues: dict[tuple[str, int], Issue] = field(default_factory=dict)
    roles: dict[tuple[str, str], str] = field(default_factory=dict)
    comments: list[tuple[str, int, str]] = field(default_factory=list)
    pulls: list[tuple[str, PullRequest, str]] = field(default_factory=list)  # repo, pr, body
    labels: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    reviews_requested: list[tuple[str, int, list[str]]] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)  # method name -> error message
    issue_states: dict[tuple[str, int], IssueState] = field(default_factory=dict)
    commits: dict[tuple[str, str], list[Commit]] = field(default_factory=dict)  # newest first
    events: dict[tuple[str, int], list[LabelEvent]] = field(default_factory=dict)
    reactions: list[tuple[str, int, str]] = field(default_factory=list)
    statuses: dict[tuple[str, int, str], list[str]] = field(default_factory=dict)
    """Every version of each live status (repo, issue, key), oldest first."""
    etags: dict[str, str] = field(default_factory=dict)  # repo -> ETag of its issue list
    issue_comments: dict[str, list[IssueComment]] = field(default_factory=dict)  # by repo

    def _maybe_fail(self, method: str) -> None:
        if method in self.fail:
            raise GitHubError(self.fail[method])

    def get_repo(self, full_name: str) -> Repository:
        self._maybe_fail("get_repo")
        try:
            return self.repos[full_name]
        except KeyError:
            raise GitHubError(f"get repository {full_name}: GitHub answered 404") from None

    def get_issue(self, full_name: str, number: int) -> Issue:
        self._maybe_fail("get_issue")
        try:
            return self.issues[(full_name, number)]
        except KeyError:
            raise GitHubError(f"get issue {full_name}#{number}: GitHub answered 404") from None

    def role(self, full_name: str, login: str) -> str:
        self._maybe_fail("role")
        return self.roles.get((full_name, login), "none")

    def comment(self, full_name: str, number: int, body: str, key: str | None = None) -> str:
        self._maybe_fail("comment")
        if key is not None:
            body = f"{body}\n{comment_marker(key)}"
            for i, (r, n, old) in enumerate(self.comments):
                if (r, n) == (full_name, number) and comment_marker(key) in old:
                    self.comments[i] = (r, n, body)
                    return f"https://github.test/{full_name}/issues/{number}#c{i + 1}"
        self.comments.append((full_name, number, body))
        return f"https://github.test/{full_name}/issues/{number}#c{len(self.comments)}"

    def find_open_pull(self, full_name: str, head_branch: str) -> PullRequest | None:
        return next(
            (
                p
                for r, p, _ in self.pulls
                if r == full_name and p.head == head_branch and p.state == "open"
            ),
            None,
        )

    def open_pull(
        self, full_name: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequest:
        self._maybe_fail("open_pull")
        n = 100 + len(self.pulls)
        pr = PullRequest(
            number=n,
            url=f"https://github.test/{full_name}/pull/{n}",
            head=head,
            base=base,
            draft=draft,
        )
        self.pulls.append((full_name, pr, body))
        return pr

    def get_pull(self, full_name: str, number: int) -> PullRequest:
        self._maybe_fail("get_pull")
        found = next((p for r, p, _ in self.pulls if r == full_name and p.number == number), None)
        if found is None:
            raise GitHubError(f"get pull request {full_name}#{number}: GitHub answered 404")
        return found

    def set_pull(self, full_name: str, number: int, **changes: object) -> PullRequest:
        """Change a pull request as GitHub would (state, merged_at, ...); returns the new one."""
        for i, (r, p, body) in enumerate(self.pulls):
            if r == full_name and p.number == number:
                self.pulls[i] = (r, p.model_copy(update=changes), body)
                return self.pulls[i][1]
        raise KeyError(f"no pull request {full_name}#{number}")

    def issues_updated_since(self, full_name: str, since: datetime) -> list[IssueState]:
        self._maybe_fail("issues_updated_since")
        found = [
            i for (r, _), i in self.issue_states.items() if r == full_name and i.updated_at >= since
        ]
        return sorted(found, key=lambda i: i.updated_at)

    def commits_since(self, full_name: str, branch: str, since: datetime) -> list[Commit]:
        self._maybe_fail("commits_since")
        return [c for c in self.commits.get((full_name, branch), []) if c.committed_at >= since]

    def update_pull(self, full_name: str, number: int, *, body: str) -> PullRequest:
        self._maybe_fail("update_pull")
        for i, (repo, pr, _) in enumerate(self.pulls):
            if repo == full_name and pr.number == number:
                self.pulls[i] = (repo, pr, body)
                return pr
        raise GitHubError(f"update pull request {full_name}#{number}: GitHub answered 404")

    def add_labels(self, full_name: str, number: int, labels: list[str]) -> None:
        self._maybe_fail("add_labels")
        self.labels.setdefault((full_name, number), []).extend(labels)

    def request_review(self, full_name: str, number: int, logins: list[str]) -> None:
        self._maybe_fail("request_review")
        self.reviews_requested.append((full_name, number, logins))

    def open_issues(self, full_name: str, etag: str | None = None) -> Polled:
        self._maybe_fail("open_issues")
        found = [i for (r, _), i in self.issues.items() if r == full_name and i.state == "open"]
        current = self.etags.get(full_name, f'W/"{len(found)}"')
        if etag is not None and etag == current:
            return Polled(etag=current, issues=None)
        newest = sorted(found, key=lambda i: (i.updated_at is None, i.updated_at), reverse=True)
        return Polled(etag=current, issues=newest[:100])

    def comments_since(
        self, full_name: str, since: datetime, etag: str | None = None
    ) -> PolledComments:
        self._maybe_fail("comments_since")
        found = [c for c in self.issue_comments.get(full_name, []) if c.updated_at >= since]
        current = f'W/"{since.isoformat()}:{len(found)}"'
        if etag == current:
            return PolledComments(etag=current, comments=None)
        return PolledComments(etag=current, comments=sorted(found, key=lambda c: c.updated_at))

    def label_events(self, full_name: str, number: int) -> list[LabelEvent]:
        self._maybe_fail("label_events")
        return list(self.events.get((full_name, number), []))

    def set_status(self, full_name: str, number: int, key: str, body: str) -> str:
        self._maybe_fail("set_status")
        versions = self.statuses.setdefault((full_name, number, key), [])
        if not versions or versions[-1] != body:
            versions.append(body)
        return f"https://github.test/{full_name}/issues/{number}#status-{key}"

    def react(self, full_name: str, number: int, content: str) -> None:
        self._maybe_fail("react")
        if (full_name, number, content) not in self.reactions:
            self.reactions.append((full_name, number, content))
