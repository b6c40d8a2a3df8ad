"""`GitHubClient` on PyGithub. PyGithub's and requests' errors become `GitHubError` here."""

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from github import Auth, Github, GithubException
from github.PullRequest import PullRequest as GhPull
from github.Repository import Repository as GhRepo
from pydantic import SecretStr
from requests.exceptions import RequestException

from worker.errors import GitHubError
from worker.github.app_auth import StaticToken, TokenSource
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
from worker.github.ratelimit import RateLimitRetry, WritePacer

T = TypeVar("T")
MAX_CLIENTS = 64
RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PATCH", "PUT", "DELETE"})


class PyGithubClient:
    """GitHub (or GitHub Enterprise, or our stand-in) through PyGithub."""

    def __init__(
        self,
        api_url: str,
        token: str | TokenSource,
        timeout: float = 30.0,
        retries: int = 3,
        *,
        writes_per_minute: float | None = None,
        secondary_wait: float = 60.0,
    ) -> None:
        self._api_url, self._timeout, self._retries = api_url, timeout, retries
        self._secondary_wait = secondary_wait
        self._pacer = WritePacer(writes_per_minute) if writes_per_minute else None
        self._tokens: TokenSource = (
            StaticToken(SecretStr(token)) if isinstance(token, str) else token
        )
        self._clients: dict[str, Github] = {}
        """One PyGithub client per token: an App's tokens differ by repository and expire."""
        self._lock = threading.Lock()

    def _github(self, token: str) -> Github:
        return Github(
            base_url=self._api_url,
            auth=Auth.Token(token),
            timeout=int(self._timeout),
            # Creates (POST) are never retried blindly: one that timed out may have happened
            # (only one a rate limit refused is). Reads and idempotent writes are.
            retry=RateLimitRetry(
                total=self._retries,
                backoff_factor=0.5,
                allowed_methods=RETRYABLE_METHODS | {"POST"},  # POST: only on a rate limit
                secondary_rate_wait=self._secondary_wait,
            ),
            seconds_between_requests=None,
            seconds_between_writes=None,  # our own pacer: a burst, then 80 a minute
            lazy=True,  # objects load on first attribute read: one request, not two
        )

    def _repo(self, full_name: str) -> GhRepo:
        """The PyGithub repository, through a client holding a token valid for it."""
        token = self._tokens.token(full_name)
        with self._lock:
            gh = self._clients.get(token)
            if gh is None:
                self._forget_oldest()
                gh = self._clients[token] = self._github(token)
        return gh.get_repo(full_name)

    def _forget_oldest(self) -> None:
        # An App's tokens are replaced hourly: the oldest clients hold expired ones.
        if len(self._clients) >= MAX_CLIENTS:
            for old in list(self._clients)[: MAX_CLIENTS // 2]:
                self._clients.pop(old).close()

    def close(self) -> None:
        with self._lock:
            for gh in self._clients.values():
                gh.close()
            self._clients.clear()

    def _pace(self) -> None:
        if self._pacer is not None:
            self._pacer.take()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except GithubException as exc:
            _wait_retry_after(exc)
            msg = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
            raise GitHubError(f"{what}: GitHub answered {exc.status}: {msg}") from exc
        except RequestException as exc:
            raise GitHubError(f"{what}: {exc.__class__.__name__}: {exc}") from exc

    def get_repo(self, full_name: str) -> Repository:
        def go() -> Repository:
            r = self._repo(full_name)
            return Repository(
                full_name=r.full_name, clone_url=r.clone_url, default_branch=r.default_branch
            )

        return self._call(f"get repository {full_name}", go)

    def get_issue(self, full_name: str, number: int) -> Issue:
        def go() -> Issue:
            i = self._repo(full_name).get_issue(number)
            return Issue(
                repo=full_name,
                number=i.number,
                title=i.title,
                body=i.body or "",
                url=i.html_url,
                author=i.user.login,
                state=i.state,
                labels=[lb.name for lb in i.labels],
                updated_at=_utc(i.updated_at),
                is_pull=i.pull_request is not None,
            )

        return self._call(f"get issue {full_name}#{number}", go)

    def open_issues(self, full_name: str, etag: str | None = None) -> Polled:
        def go() -> Polled:
            repo = self._repo(full_name)
            params = {"state": "open", "sort": "updated", "direction": "desc", "per_page": 100}
            headers = {"If-None-Match": etag} if etag else {}
            status, answer, data = repo._requester.requestJson(
                "GET", f"{repo.url}/issues", parameters=params, headers=headers
            )
            tag = answer.get("etag") or answer.get("ETag") or etag
            if status == 304:
                return Polled(etag=tag, issues=None)
            if status >= 300:
                raise GitHubError(f"list issues of {full_name}: GitHub answered {status}")
            return Polled(etag=tag, issues=[_issue(full_name, i) for i in json.loads(data)])

        return self._call(f"list issues of {full_name}", go)

    def comments_since(
        self, full_name: str, since: datetime, etag: str | None = None
    ) -> PolledComments:
        def go() -> PolledComments:
            repo = self._repo(full_name)
            stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            params = {"since": stamp, "sort": "updated", "direction": "asc", "per_page": 100}
            headers = {"If-None-Match": etag} if etag else {}
            status, answer, data = repo._requester.requestJson(
                "GET", f"{repo.url}/issues/comments", parameters=params, headers=headers
            )
            tag = answer.get("etag") or answer.get("ETag") or etag
            if status == 304:
                return PolledComments(etag=tag, comments=None)
            if status >= 300:
                raise GitHubError(f"list comments of {full_name}: GitHub answered {status}")
            return PolledComments(etag=tag, comments=[_comment(c) for c in json.loads(data)])

        return self._call(f"list comments of {full_name}", go)

    def label_events(self, full_name: str, number: int) -> list[LabelEvent]:
        def go() -> list[LabelEvent]:
            found = self._repo(full_name).get_issue(number).get_events()
            return [
                LabelEvent(
                    id=e.id,
                    label=e.label.name,
                    actor=e.actor.login if e.actor else "ghost",
                    created_at=_utc(e.created_at) or datetime.now(UTC),
                )
                for e in found
                if e.event == "labeled" and e.label is not None
            ]

        return self._call(f"events of {full_name}#{number}", go)

    def set_status(self, full_name: str, number: int, key: str, body: str) -> str:
        return self.comment(full_name, number, body, key=key)

    def react(self, full_name: str, number: int, content: str) -> None:
        # GitHub answers 200 (not 201) for a reaction that exists: safe to repeat.
        self._pace()
        self._call(
            f"react to {full_name}#{number}",
            lambda: self._repo(full_name).get_issue(number).create_reaction(content),
        )

    def role(self, full_name: str, login: str) -> str:
        def go() -> str:
            repo = self._repo(full_name)
            _, data = repo._requester.requestJsonAndCheck(
                "GET", f"{repo.url}/collaborators/{login}/permission"
            )
            return str(data.get("role_name") or data.get("permission") or "none")

        return self._call(f"permission of {login} on {full_name}", go)

    def comment(self, full_name: str, number: int, body: str, key: str | None = None) -> str:
        what = f"comment on {full_name}#{number}"
        if key is None:
            return self._call(what, lambda: self._create_comment(full_name, number, body))
        marked = f"{body}\n{comment_marker(key)}"
        try:
            return self._call(what, lambda: self._upsert_comment(full_name, number, key, marked))
        except GitHubError:
            # The create may have happened before the error: look again before writing again.
            return self._call(what, lambda: self._upsert_comment(full_name, number, key, marked))

    def _create_comment(self, full_name: str, number: int, body: str) -> str:
        issue = self._repo(full_name).get_issue(number)
        self._pace()
        return str(issue.create_comment(body).html_url)

    def _upsert_comment(self, full_name: str, number: int, key: str, body: str) -> str:
        issue = self._repo(full_name).get_issue(number)
        for c in issue.get_comments():
            if comment_marker(key) in (c.body or ""):
                if c.body != body:
                    self._pace()
                    c.edit(body)
                return str(c.html_url)
        self._pace()
        return str(issue.create_comment(body).html_url)

    def find_open_pull(self, full_name: str, head_branch: str) -> PullRequest | None:
        def go() -> PullRequest | None:
            owner = full_name.split("/", 1)[0]
            pulls = self._repo(full_name).get_pulls(state="open", head=f"{owner}:{head_branch}")
            for p in pulls:
                return _pull(p)
            return None

        return self._call(f"find pull request for {full_name}:{head_branch}", go)

    def open_pull(
        self, full_name: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequest:
        def go() -> PullRequest:
            self._pace()
            p = self._repo(full_name).create_pull(
                base=base, head=head, title=title, body=body, draft=draft
            )
            return _pull(p)

        return self._call(f"open pull request {full_name}:{head}", go)

    def get_pull(self, full_name: str, number: int) -> PullRequest:
        def go() -> PullRequest:
            return _pull(self._repo(full_name).get_pull(number))

        return self._call(f"get pull request {full_name}#{number}", go)

    def issues_updated_since(self, full_name: str, since: datetime) -> list[IssueState]:
        def go() -> list[IssueState]:
            found = self._repo(full_name).get_issues(
                state="all", since=since, sort="updated", direction="asc"
            )
            return [
                IssueState(
                    number=i.number,
                    state=i.state,
                    state_reason=i.state_reason,
                    closed_at=_utc(i.closed_at),
                    updated_at=_utc(i.updated_at) or since,
                    labels=[lb.name for lb in i.labels],
                    is_pull=i.pull_request is not None,
                )
                for i in found
            ]

        return self._call(f"issues of {full_name} updated since {since.isoformat()}", go)

    def commits_since(self, full_name: str, branch: str, since: datetime) -> list[Commit]:
        def go() -> list[Commit]:
            found = self._repo(full_name).get_commits(sha=branch, since=since)
            return [
                Commit(
                    sha=c.sha,
                    message=c.commit.message,
                    committed_at=_utc(c.commit.committer.date) or since,
                )
                for c in found
            ]

        return self._call(f"commits of {full_name}:{branch} since {since.isoformat()}", go)

    def update_pull(self, full_name: str, number: int, *, body: str) -> PullRequest:
        def go() -> PullRequest:
            p = self._repo(full_name).get_pull(number)
            self._pace()
            p.edit(body=body)
            return _pull(p)

        return self._call(f"update pull request {full_name}#{number}", go)

    def add_labels(self, full_name: str, number: int, labels: list[str]) -> None:
        self._pace()
        self._call(
            f"label {full_name}#{number}",
            lambda: self._repo(full_name).get_issue(number).add_to_labels(*labels),
        )

    def request_review(self, full_name: str, number: int, logins: list[str]) -> None:
        self._pace()
        self._call(
            f"request review on {full_name}#{number}",
            lambda: self._repo(full_name).get_pull(number).create_review_request(reviewers=logins),
        )


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _issue(full_name: str, i: dict[str, Any]) -> Issue:
    updated = i.get("updated_at")
    return Issue(
        repo=full_name,
        number=int(i["number"]),
        title=str(i.get("title") or ""),
        body=str(i.get("body") or ""),
        url=str(i.get("html_url") or ""),
        author=str((i.get("user") or {}).get("login") or "ghost"),
        state=str(i.get("state") or "open"),
        labels=[str(lb["name"]) for lb in i.get("labels") or []],
        updated_at=datetime.fromisoformat(updated.replace("Z", "+00:00")) if updated else None,
        is_pull="pull_request" in i,
    )


def _comment(c: dict[str, Any]) -> IssueComment:
    html = str(c.get("html_url") or "")
    return IssueComment(
        id=int(c["id"]),
        number=int(str(c["issue_url"]).rstrip("/").rsplit("/", 1)[1]),
        body=str(c.get("body") or ""),
        author=str((c.get("user") or {}).get("login") or "ghost"),
        is_pull="/pull/" in html,
        updated_at=datetime.fromisoformat(str(c["updated_at"]).replace("Z", "+00:00")),
    )


def _pull(p: GhPull) -> PullRequest:
    return PullRequest(
        number=p.number,
        url=p.html_url,
        head=p.head.ref,
        base=p.base.ref,
        draft=bool(p.draft),
        state=p.state,
        merged=bool(p.merged_at),
        created_at=_utc(p.created_at),
        updated_at=_utc(p.updated_at),
        closed_at=_utc(p.closed_at),
        merged_at=_utc(p.merged_at),
        merge_commit_sha=p.merge_commit_sha,
        head_sha=p.head.sha,
    )


MAX_RETRY_AFTER_SECONDS = 60.0


def _wait_retry_after(exc: GithubException) -> None:
    """Wait what GitHub asked (`Retry-After`, on a 403 secondary rate limit or a 429; at most
    a minute) before the error is raised, so whatever the caller does next (a create is looked
    for, then made again) honours it too; PyGithub's own retries honour it for the rest."""
    headers = exc.headers or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        seconds = float(value) if value is not None else 0.0
    except ValueError:
        seconds = 0.0
    if seconds > 0:
        time.sleep(min(seconds, MAX_RETRY_AFTER_SECONDS))
