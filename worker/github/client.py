"""`GitHubClient` on PyGithub. PyGithub's and requests' errors become `GitHubError` here."""

from collections.abc import Callable
from typing import Any, TypeVar

from github import Auth, Github, GithubException, GithubRetry
from requests.exceptions import RequestException

from worker.errors import GitHubError
from worker.github.protocol import Issue, PullRequest, Repository

T = TypeVar("T")


class PyGithubClient:
    """GitHub (or GitHub Enterprise, or our stand-in) through PyGithub."""

    def __init__(self, api_url: str, token: str, timeout: float = 30.0, retries: int = 3) -> None:
        self._gh = Github(
            base_url=api_url,
            auth=Auth.Token(token),
            timeout=int(timeout),
            retry=GithubRetry(total=retries, backoff_factor=0.5),
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,  # objects load on first attribute read: one request, not two
        )

    def close(self) -> None:
        self._gh.close()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except GithubException as exc:
            msg = exc.data.get("message") if isinstance(exc.data, dict) else exc.data
            raise GitHubError(f"{what}: GitHub answered {exc.status}: {msg}") from exc
        except RequestException as exc:
            raise GitHubError(f"{what}: {exc.__class__.__name__}: {exc}") from exc

    def get_repo(self, full_name: str) -> Repository:
        def go() -> Repository:
            r = self._gh.get_repo(full_name)
            return Repository(
                full_name=r.full_name, clone_url=r.clone_url, default_branch=r.default_branch
            )

        return self._call(f"get repository {full_name}", go)

    def get_issue(self, full_name: str, number: int) -> Issue:
        def go() -> Issue:
            i = self._gh.get_repo(full_name).get_issue(number)
            return Issue(
                repo=full_name,
                number=i.number,
                title=i.title,
                body=i.body or "",
                url=i.html_url,
                author=i.user.login,
                state=i.state,
                labels=[lb.name for lb in i.labels],
            )

        return self._call(f"get issue {full_name}#{number}", go)

    def role(self, full_name: str, login: str) -> str:
        def go() -> str:
            repo = self._gh.get_repo(full_name)
            _, data = repo._requester.requestJsonAndCheck(
                "GET", f"{repo.url}/collaborators/{login}/permission"
            )
            return str(data.get("role_name") or data.get("permission") or "none")

        return self._call(f"permission of {login} on {full_name}", go)

    def comment(self, full_name: str, number: int, body: str) -> str:
        def go() -> str:
            issue = self._gh.get_repo(full_name).get_issue(number)
            return str(issue.create_comment(body).html_url)

        return self._call(f"comment on {full_name}#{number}", go)

    def find_open_pull(self, full_name: str, head_branch: str) -> PullRequest | None:
        def go() -> PullRequest | None:
            owner = full_name.split("/", 1)[0]
            pulls = self._gh.get_repo(full_name).get_pulls(
                state="open", head=f"{owner}:{head_branch}"
            )
            for p in pulls:
                return PullRequest(
                    number=p.number,
                    url=p.html_url,
                    head=p.head.ref,
                    base=p.base.ref,
                    draft=bool(p.draft),
                )
            return None

        return self._call(f"find pull request for {full_name}:{head_branch}", go)

    def open_pull(
        self, full_name: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequest:
        def go() -> PullRequest:
            p = self._gh.get_repo(full_name).create_pull(
                base=base, head=head, title=title, body=body, draft=draft
            )
            return PullRequest(
                number=p.number,
                url=p.html_url,
                head=p.head.ref,
                base=p.base.ref,
                draft=bool(p.draft),
            )

        return self._call(f"open pull request {full_name}:{head}", go)

    def update_pull(self, full_name: str, number: int, *, body: str) -> PullRequest:
        def go() -> PullRequest:
            p = self._gh.get_repo(full_name).get_pull(number)
            p.edit(body=body)
            return _pull(p)

        return self._call(f"update pull request {full_name}#{number}", go)

    def add_labels(self, full_name: str, number: int, labels: list[str]) -> None:
        self._call(
            f"label {full_name}#{number}",
            lambda: self._gh.get_repo(full_name).get_issue(number).add_to_labels(*labels),
        )

    def request_review(self, full_name: str, number: int, logins: list[str]) -> None:
        self._call(
            f"request review on {full_name}#{number}",
            lambda: (
                self._gh.get_repo(full_name)
                .get_pull(number)
                .create_review_request(reviewers=logins)
            ),
        )


def _pull(p: Any) -> PullRequest:
    return PullRequest(
        number=p.number, url=p.html_url, head=p.head.ref, base=p.base.ref, draft=bool(p.draft)
    )
