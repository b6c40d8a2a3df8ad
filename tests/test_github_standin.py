"""Tests of the GitHub stand-in, driven by real PyGithub and real git (no mocks).

The replay test at the bottom re-sends the recorded api.github.com requests in
``shared/fixtures/github-api`` and checks status codes, headers and JSON key sets.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import github
import pytest
from github import GithubException, GithubRetry, UnknownObjectException

from tests.support.github_standin import Git, GitHubStandIn, client, http

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "github-api"
REPO = "acme/widgets"
FILES = {"README.md": "# widgets\n", "src/app.py": "print('hello')\n"}


def fixture(name: str) -> list[dict[str, Any]]:
    path = FIXTURES / f"{name}.json"
    if not path.is_file():
        pytest.fail(
            f"recorded GitHub fixture missing: {path} (shared/ must sit beside the checkout)"
        )
    data: list[dict[str, Any]] = json.loads(path.read_text())
    return data


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as standin:
        yield standin


@pytest.fixture
def token(gh: GitHubStandIn) -> str:
    return gh.add_repo(REPO, FILES)


def test_lifecycle_cleans_up_own_directory_only(tmp_path: Path) -> None:
    with GitHubStandIn() as standin:
        root = standin.root
        assert standin.api_url == standin.web_url + "/api/v3"
        assert standin.git_url(REPO) == f"{standin.web_url}/{REPO}.git"
    assert not root.exists()
    with GitHubStandIn(tmp_path / "kept") as standin:
        standin.add_repo(REPO, FILES)
    assert (tmp_path / "kept" / "repos" / "acme" / "widgets.git").is_dir()
    with pytest.raises(RuntimeError):
        _ = standin.api_url


def test_user_and_repository(gh: GitHubStandIn, token: str) -> None:
    g = client(gh, token)
    assert g.get_user().login == "acme"
    repo = g.get_repo(REPO)
    assert (repo.full_name, repo.name, repo.owner.login) == (REPO, "widgets", "acme")
    assert repo.default_branch == "main"
    assert repo.clone_url == gh.git_url(REPO)
    assert repo.html_url == f"{gh.web_url}/{REPO}"
    assert repo.private is False
    assert repo.permissions.admin and repo.permissions.push
    outsider = client(gh, gh.add_user("mallory")).get_repo(REPO)
    assert outsider.permissions.pull and not outsider.permissions.push


def test_credentials(gh: GitHubStandIn, token: str) -> None:
    with pytest.raises(github.BadCredentialsException) as caught:
        client(gh, "not-a-token").get_repo(REPO)
    assert caught.value.status == 401
    assert caught.value.data == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
    }
    assert http(gh.api_url + "/user").status == 401
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    for header in (f"Bearer {token}", f"token {token}", f"Basic {basic}"):
        reply = http(gh.api_url + "/user", headers={"Authorization": header})
        assert (reply.status, reply.json()["login"]) == (200, "acme")
        assert reply.headers["content-type"] == "application/json; charset=utf-8"
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(
            reply.headers
        )
        assert "x-github-request-id" in reply.headers


def test_not_found_errors(gh: GitHubStandIn, token: str) -> None:
    g = client(gh, token)
    with pytest.raises(UnknownObjectException) as caught:
        g.get_repo("acme/nope")
    assert caught.value.status == 404
    assert caught.value.data["message"] == "Not Found"
    with pytest.raises(UnknownObjectException):
        g.get_repo(REPO).get_issue(99)
    gh.add_repo("acme/secret", FILES, private=True)
    with pytest.raises(UnknownObjectException):
        client(gh, gh.add_user("mallory")).get_repo("acme/secret")


def test_issue_comments(gh: GitHubStandIn, token: str) -> None:
    number = gh.create_issue(REPO, "Crash on start", "Stack trace", "alice", ["burndown"])
    issue = client(gh, token).get_repo(REPO).get_issue(number)
    assert (issue.number, issue.title, issue.body, issue.state) == (
        1,
        "Crash on start",
        "Stack trace",
        "open",
    )
    assert issue.user.login == "alice"
    assert [label.name for label in issue.labels] == ["burndown"]
    assert issue.html_url == f"{gh.web_url}/{REPO}/issues/1"
    comment = issue.create_comment("Working on it")
    assert comment.user.login == "acme" and comment.body == "Working on it"
    assert [c["body"] for c in gh.issue_comments(REPO, number)] == ["Working on it"]
    assert issue.get_comment(comment.id).body == "Working on it"
    comment.edit("Done")
    gh.add_comment(REPO, number, "Thanks", author="alice")
    assert [c.body for c in issue.get_comments()] == ["Done", "Thanks"]
    issue.edit(state="closed", title="Crash fixed")
    assert gh.issue(REPO, number)["state"] == "closed"
    assert gh.issue(REPO, number)["closed_by"]["login"] == "acme"


def test_issue_list_pagination_and_filters(gh: GitHubStandIn, token: str) -> None:
    for n in range(1, 36):
        gh.create_issue(REPO, f"Issue {n}", "", "alice", ["burndown"] if n % 5 == 0 else [])
    repo = client(gh, token).get_repo(REPO)
    issues = list(repo.get_issues())
    assert [i.number for i in issues] == list(range(35, 0, -1))
    assert ("GET", f"/repositories/{repo.id}/issues") in gh.requests
    assert [i.number for i in repo.get_issues(labels=["BurnDown"])] == [35, 30, 25, 20, 15, 10, 5]
    repo.get_issue(3).edit(state="closed", labels=["wontfix"])
    assert [i.number for i in repo.get_issues(state="closed")] == [3]
    assert [label.name for label in repo.get_issue(3).labels] == ["wontfix"]
    assert list(repo.get_issues(since=datetime.now(UTC) + timedelta(minutes=1))) == []
    assert len(list(repo.get_issues(since=datetime.now(UTC) - timedelta(minutes=1)))) == 34
    assert repo.get_issues(state="all").totalCount == 35
    page = http(f"{gh.api_url}/repos/{REPO}/issues?per_page=100", token=token)
    assert "link" not in page.headers and len(page.json()) == 34


def test_labels(gh: GitHubStandIn, token: str) -> None:
    number = gh.create_issue(REPO, "Title", "", "alice")
    repo = client(gh, token).get_repo(REPO)
    issue = repo.get_issue(number)
    issue.add_to_labels("burndown", "BUG")
    assert [label.name for label in repo.get_issue(number).labels] == ["burndown", "bug"]
    reply = http(
        f"{gh.api_url}/repos/{REPO}/issues/{number}/labels", "POST", token, {"labels": ["x"]}
    )
    assert [label["name"] for label in reply.json()] == ["burndown", "bug", "x"]
    issue.remove_from_labels("bug")
    gh.add_label(REPO, number, "later")
    assert [label.name for label in repo.get_issue(number).labels] == ["burndown", "x", "later"]
    with pytest.raises(GithubException) as caught:
        issue.remove_from_labels("bug")
    assert caught.value.status == 404
    assert {"bug", "burndown", "later"} <= {label.name for label in repo.get_labels()}
    reader = gh.add_user("reader")
    gh.set_permission(REPO, "reader", "read")
    with pytest.raises(GithubException) as caught:
        client(gh, reader).get_repo(REPO).get_issue(number).add_to_labels("nope")
    assert caught.value.status == 403


def test_collaborator_permission(gh: GitHubStandIn, token: str) -> None:
    repo = client(gh, token).get_repo(REPO)
    roles = {"ada": "admin", "max": "maintain", "wes": "write", "tia": "triage", "rob": "read"}
    for login, role in roles.items():
        gh.set_permission(REPO, login, role)
    legacy = {login: repo.get_collaborator_permission(login) for login in roles}
    assert legacy == {"ada": "admin", "max": "write", "wes": "write", "tia": "read", "rob": "read"}
    raw = http(f"{gh.api_url}/repos/{REPO}/collaborators/max/permission", token=token).json()
    assert (raw["permission"], raw["role_name"], raw["user"]["login"]) == (
        "write",
        "maintain",
        "max",
    )
    gh.add_user("stranger")
    assert repo.get_collaborator_permission("stranger") == "read"
    gh.add_repo("acme/secret", FILES, private=True)
    assert (
        client(gh, token).get_repo("acme/secret").get_collaborator_permission("stranger") == "none"
    )
    with pytest.raises(UnknownObjectException):
        repo.get_collaborator_permission("nobody-at-all")
    with pytest.raises(UnknownObjectException):
        client(gh, token).get_repo("acme/nope").get_collaborator_permission("ada")
    with pytest.raises(GithubException) as caught:
        client(gh, gh.add_user("rob")).get_repo(REPO).get_collaborator_permission("ada")
    assert caught.value.status == 403


def test_git_clone_push_and_auth(gh: GitHubStandIn, token: str, tmp_path: Path) -> None:
    git = Git(tmp_path / "bot", token)
    work = git.clone(gh.git_url(REPO))
    assert (work / "README.md").read_text() == "# widgets\n"
    assert "x-access-token" not in (work / ".git" / "config").read_text()
    big = os.urandom(2_000_000).hex()[:1_500_000]  # over http.postBuffer: chunked upload
    sha = git.commit_and_push(work, {"src/app.py": "print('fixed')\n", "big.txt": big}, "fix")
    assert gh.branch_sha(REPO, "fix") == sha
    assert gh.branch_file(REPO, "fix", "src/app.py") == "print('fixed')\n"
    assert gh.branch_file(REPO, "main", "src/app.py") == "print('hello')\n"
    assert gh.branch_file(REPO, "fix", "missing.txt") is None
    assert "+print('fixed')" in gh.branch_diff(REPO, "main", "fix")
    assert ("POST", "/acme/widgets.git/git-receive-pack") in gh.requests

    bad = Git(tmp_path / "bad", "wrong-token")
    pushed = bad.run("push", "--quiet", gh.git_url(REPO), f"{sha}:refs/heads/evil", cwd=work)
    assert pushed.returncode != 0 and gh.branch_sha(REPO, "evil") is None
    gh.set_permission(REPO, "reader", "read")
    reader = Git(tmp_path / "reader", gh.add_user("reader"))
    pushed = reader.run("push", "--quiet", gh.git_url(REPO), f"{sha}:refs/heads/evil", cwd=work)
    assert pushed.returncode != 0 and "403" in pushed.stderr
    assert gh.branch_sha(REPO, "evil") is None
    reply = http(gh.git_url(REPO) + "/info/refs?service=git-upload-pack")
    assert (reply.status, reply.headers["www-authenticate"]) == (401, 'Basic realm="GitHub"')


def test_git_gzip_request_body(gh: GitHubStandIn, token: str) -> None:
    sha = gh.branch_sha(REPO, "main")
    want = f"want {sha}\n"
    request = f"{len(want) + 4:04x}{want}00000009done\n".encode()
    secret = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    reply = http(
        gh.git_url(REPO) + "/git-upload-pack",
        "POST",
        headers={
            "Authorization": f"Basic {secret}",
            "Content-Type": "application/x-git-upload-pack-request",
            "Content-Encoding": "gzip",
        },
        data=gzip.compress(request),
    )
    assert reply.status == 200 and b"PACK" in reply.body


def test_pull_request_lifecycle(gh: GitHubStandIn, token: str, tmp_path: Path) -> None:
    git = Git(tmp_path, token)
    work = git.clone(gh.git_url(REPO))
    head_sha = git.commit_and_push(work, {"src/app.py": "print('fixed')\n", "NEW.md": "n\n"}, "fix")
    issue_number = gh.create_issue(REPO, "Bug", "", "alice")
    repo = client(gh, token).get_repo(REPO)
    pr = repo.create_pull(base="main", head="fix", title="Fix bug", body=f"Closes #{issue_number}")
    assert pr.number == issue_number + 1
    assert pr.html_url == f"{gh.web_url}/{REPO}/pull/{pr.number}"
    assert (pr.head.ref, pr.head.sha, pr.head.label) == ("fix", head_sha, "acme:fix")
    assert (pr.base.ref, pr.base.sha) == ("main", gh.branch_sha(REPO, "main"))
    assert pr.head.repo.full_name == REPO
    assert (pr.state, pr.draft, pr.merged, pr.mergeable) == ("open", False, False, True)
    assert [p.number for p in repo.get_pulls(head="acme:fix")] == [pr.number]
    assert list(repo.get_pulls(head="acme:other")) == []
    assert {i.number: i.pull_request is not None for i in repo.get_issues()} == {1: False, 2: True}
    files = {f.filename: (f.status, f.additions, f.deletions) for f in pr.get_files()}
    assert files == {"NEW.md": ("added", 1, 0), "src/app.py": ("modified", 1, 1)}

    with pytest.raises(GithubException) as caught:
        repo.create_pull(base="main", head="fix", title="Again")
    assert caught.value.status == 422
    assert caught.value.data["message"] == "Validation Failed"
    assert caught.value.data["errors"] == [
        {
            "resource": "PullRequest",
            "code": "custom",
            "message": "A pull request already exists for acme:fix.",
        }
    ]
    with pytest.raises(GithubException) as caught:
        repo.create_pull(base="main", head="no-such-branch", title="Nope")
    assert caught.value.status == 422 and caught.value.data["errors"][0]["field"] == "head"
    git.ok("push", "--quiet", "origin", "origin/main:refs/heads/empty", cwd=work)
    with pytest.raises(GithubException) as caught:
        repo.create_pull(base="main", head="empty", title="Nothing")
    assert caught.value.data["errors"][0]["message"] == "No commits between main and empty"

    pr.edit(title="Fix the bug", body="Closes #1.")
    gh.set_permission(REPO, "bob", "write")
    pr.create_review_request(reviewers=["bob"])
    gh.add_user("eve")  # exists, but is no collaborator
    with pytest.raises(GithubException) as caught:
        pr.create_review_request(reviewers=["eve"])
    assert caught.value.status == 422
    pr = repo.get_pull(pr.number)
    assert pr.title == "Fix the bug" and [u.login for u in pr.requested_reviewers] == ["bob"]

    status = pr.merge(merge_method="squash", commit_title="Fix the bug (#2)")
    assert status.merged and status.sha == gh.branch_sha(REPO, "main")
    assert gh.branch_file(REPO, "main", "NEW.md") == "n\n"
    pr = repo.get_pull(pr.number)
    assert (pr.state, pr.merged, pr.merge_commit_sha) == ("closed", True, status.sha)
    assert pr.merged_by.login == "acme"
    with pytest.raises(GithubException) as caught:
        pr.merge()
    assert caught.value.status == 405
    listed = gh.pulls(REPO)
    assert [(p["number"], p["merged"], p["state"]) for p in listed] == [(2, True, "closed")]
    assert [p.number for p in repo.get_pulls(state="closed", base="main")] == [2]
    assert list(repo.get_pulls(state="closed", base="other")) == []


def test_pull_request_conflicts_and_drafts(gh: GitHubStandIn, token: str, tmp_path: Path) -> None:
    git = Git(tmp_path, token)
    work = git.clone(gh.git_url(REPO))
    git.commit_and_push(work, {"src/app.py": "print('one')\n"}, "one")
    git.ok("checkout", "--quiet", "-b", "two", "origin/main", cwd=work)
    git.commit_and_push(work, {"src/app.py": "print('two')\n"}, "two")
    repo = client(gh, token).get_repo(REPO)
    first = repo.create_pull(base="main", head="one", title="One")
    second = repo.create_pull(base="main", head="acme:two", title="Two", draft=True)
    assert second.draft
    # as on GitHub, a head without "owner:" does not filter
    assert [p.number for p in repo.get_pulls(head="one")] == [2, 1]
    assert [p.number for p in repo.get_pulls(head="acme:one")] == [1]
    with pytest.raises(GithubException) as caught:
        second.merge()
    assert caught.value.status == 405
    assert first.merge().merged
    second = repo.get_pull(second.number)
    assert second.mergeable is False and second.mergeable_state == "dirty"
    merge_commit = repo.get_commit(gh.branch_sha(REPO, "main") or "")
    assert len(merge_commit.parents) == 2 and merge_commit.commit.message.startswith("Merge pull")


def test_statuses_refs_and_contents(gh: GitHubStandIn, token: str) -> None:
    repo = client(gh, token).get_repo(REPO)
    sha = gh.branch_sha(REPO, "main") or ""
    assert repo.get_git_ref("heads/main").object.sha == sha
    commit = repo.get_commit(sha)
    assert commit.get_combined_status().state == "pending"
    commit.create_status("pending", context="burndown")
    commit.create_status("success", "http://ci.example/1", "verified", "burndown")
    combined = commit.get_combined_status()
    assert (combined.state, combined.total_count) == ("success", 1)
    assert combined.statuses[0].description == "verified"
    commit.create_status("failure", context="lint")
    assert repo.get_commit("main").get_combined_status().state == "failure"
    with pytest.raises(GithubException) as caught:
        repo.get_commit("f" * 40).create_status("success")
    assert caught.value.status == 422
    readme = repo.get_contents("README.md", ref="main")
    assert not isinstance(readme, list) and readme.decoded_content == b"# widgets\n"
    listing = repo.get_contents("")
    assert isinstance(listing, list) and {c.path: c.type for c in listing} == {
        "README.md": "file",
        "src": "dir",
    }
    with pytest.raises(UnknownObjectException):
        repo.get_contents("nope.txt")
    legacy = http(f"{gh.api_url}/repos/{REPO}/git/refs/heads/main", token=token).json()
    assert legacy["ref"] == "refs/heads/main" and legacy["object"]["sha"] == sha
    heads = http(f"{gh.api_url}/repos/{REPO}/git/refs/heads", token=token).json()
    assert [ref["ref"] for ref in heads] == ["refs/heads/main"]
    raw = http(
        f"{gh.api_url}/repos/{REPO}/contents/src/app.py?ref={sha}",
        token=token,
        headers={"Accept": "application/vnd.github.raw+json"},
    )
    assert raw.body == b"print('hello')\n"
    repo.create_git_ref("refs/heads/copy", sha)
    assert gh.branch_sha(REPO, "copy") == sha
    repo.get_git_ref("heads/copy").delete()
    assert gh.branch_sha(REPO, "copy") is None


def test_list_commits(gh: GitHubStandIn, token: str, tmp_path: Path) -> None:
    git = Git(tmp_path, token)
    work = git.clone(gh.git_url(REPO))
    initial = gh.branch_sha(REPO, "main") or ""
    shas = []
    for day in (1, 2, 3):
        git.env["GIT_COMMITTER_DATE"] = f"2030-01-0{day}T12:00:00Z"
        shas.append(git.commit_and_push(work, {"n.txt": f"{day}\n"}, "main"))
    git.env["GIT_COMMITTER_DATE"] = "2030-01-04T12:00:00Z"
    git.ok("checkout", "--quiet", "-b", "side", cwd=work)
    side = git.commit_and_push(work, {"s.txt": "s\n"}, "side")
    repo = client(gh, token).get_repo(REPO)

    listed = [c.sha for c in repo.get_commits()]
    assert listed == [*reversed(shas), initial]  # newest first, default branch
    assert [c.sha for c in repo.get_commits(sha="side")][:2] == [side, shas[2]]
    since = datetime(2030, 1, 2, 12, tzinfo=UTC)
    assert [c.sha for c in repo.get_commits(sha="main", since=since)] == [shas[2], shas[1]]
    until = datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert [c.sha for c in repo.get_commits(until=until)] == [shas[0], initial]
    first = repo.get_commits()[0]
    assert first.commit.message == "Change n.txt"
    assert first.commit.committer.date == datetime(2030, 1, 3, 12, tzinfo=UTC)

    page = http(f"{gh.api_url}/repos/{REPO}/commits?per_page=2", token=token)
    assert page.status == 200 and len(page.json()) == 2
    assert 'rel="next"' in page.headers["link"] and "/repositories/" in page.headers["link"]
    single = http(f"{gh.api_url}/repos/{REPO}/commits/{shas[2]}", token=token).json()
    item = page.json()[0]
    assert set(single) - set(item) == {"stats", "files"}  # the list leaves these out, as GitHub
    assert {k: v for k, v in single.items() if k in item} == item

    missing = http(f"{gh.api_url}/repos/{REPO}/commits?sha=no-such-branch", token=token)
    assert missing.status == 404 and "No commit found" in missing.json()["message"]
    bad = http(f"{gh.api_url}/repos/{REPO}/commits?since=yesterday-ish", token=token)
    assert bad.status == 400 and "since" in bad.json()["message"]


def test_fail_next(gh: GitHubStandIn, token: str) -> None:
    number = gh.create_issue(REPO, "Bug", "", "alice")
    gh.fail_next("GET", rf"/repos/{REPO}/issues/\d+", 502, {"message": "Server Error"})
    repo = client(gh, token).get_repo(REPO)
    with pytest.raises(GithubException) as caught:
        repo.get_issue(number)
    assert caught.value.status == 502
    issue = repo.get_issue(number)

    retrying = GithubRetry(total=3, backoff_factor=0, secondary_rate_wait=0)
    flaky = client(gh, token, retry=retrying).get_repo(REPO).get_issue(number)
    comments = rf"/repos/{REPO}/issues/{number}/comments"
    gh.fail_next("POST", comments, 502, {"message": "Server Error"})
    limited = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}
    gh.fail_next("POST", comments, 403, limited, headers={"Retry-After": "0"})
    flaky.create_comment("once")
    posts = [r for r in gh.requests if r == ("POST", comments)]
    assert len(posts) == 3
    assert [c["body"] for c in gh.issue_comments(REPO, number)] == ["once"]
    assert issue.get_comments().totalCount == 1


def test_requests_log_is_thread_safe(gh: GitHubStandIn, token: str) -> None:
    def fetch(_: int) -> int:
        return http(gh.api_url + "/user", token=token).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(fetch, range(40))) == {200}
    assert gh.requests.count(("GET", "/user")) == 40


def shape(expected: Any, actual: Any, where: str = "$", skip: frozenset[str] = frozenset()) -> None:
    """Assert ``actual`` has the same JSON key sets as ``expected``, recursively."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        missing, extra = set(expected) - set(actual) - skip, set(actual) - set(expected)
        assert not missing and not extra, f"{where}: missing {missing}, unexpected {extra}"
        for key, value in expected.items():
            if key in actual and value is not None and actual[key] is not None:
                shape(value, actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        if expected and actual:
            shape(expected[0], actual[0], f"{where}[0]", skip)


SCENARIOS = {
    "add-labels-to-issue": {},
    "create-status": {},
    "errors": {},
    "get-content": {"README.md": "# hello-world"},
    "get-repository": {"README.md": "# hello-world"},
    "git-refs": {},
    "labels": {},
    "paginate-issues": {},
}
"""Recorded scenarios replayed against the stand-in (search-issues is not implemented)."""


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_replays_recorded_github_responses(
    gh: GitHubStandIn, scenario: str, tmp_path: Path
) -> None:
    recorded = fixture(scenario)
    name = recorded[0]["path"].split("/")[3]
    full_name = f"octokit-fixture-org/{name}"
    token = gh.add_repo(full_name, SCENARIOS[scenario] or {"README.md": "# fixture\n"})
    repo_id = client(gh, token).get_repo(full_name).id
    sha2 = gh.branch_sha(full_name, "main") or ""
    sha1 = sha2
    if scenario == "git-refs":  # the recording moves a ref forward from ...02 to ...01
        git = Git(tmp_path, token)
        sha1 = git.commit_and_push(git.clone(gh.git_url(full_name)), {"x.txt": "x\n"}, "main")
    if scenario == "paginate-issues":
        for n in range(1, 14):
            gh.create_issue(full_name, f"Test issue {n}", "", "octokit-fixture-user-a")

    def local(text: str) -> str:
        text = text.replace("https://api.github.com", gh.api_url)
        text = text.replace("/repositories/1000/", f"/repositories/{repo_id}/")
        return text.replace("0" * 39 + "1", sha1).replace("0" * 39 + "2", sha2)

    for step in recorded:
        path = local(step["path"])
        body = json.loads(local(json.dumps(step["body"]))) if step["body"] != "" else None
        accept = {"Accept": step["reqheaders"]["accept"]}
        reply = http(gh.api_url + path, step["method"], token, body, accept)
        where = f"{step['method'].upper()} {step['path']}"
        assert reply.status == step["status"], f"{where}: {reply.body!r}"
        expected_headers = step["headers"]
        if "link" in expected_headers:
            assert reply.headers["link"] == local(expected_headers["link"]), where
        if "location" in expected_headers:
            assert reply.headers["location"] == local(expected_headers["location"]), where
        if "content-type" in expected_headers:
            assert reply.headers["content-type"] == expected_headers["content-type"], where
        if reply.status == 204:
            assert reply.body == b"", where
        elif isinstance(step["response"], str):
            assert reply.body.decode() == step["response"], where
        elif scenario == "errors":
            assert reply.json() == step["response"], where
        else:
            # only organisation-owned repositories carry "organization"
            shape(step["response"], reply.json(), where, skip=frozenset({"organization"}))
