"""The lifecycle calls of `PyGithubClient`, through real PyGithub against the GitHub stand-in."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.github_standin import Git, GitHubStandIn, client
from worker.errors import GitHubError
from worker.github.client import PyGithubClient
from worker.publish import open_or_update
from worker.store.models import Run, Ticket

REPO = "acme/widgets"


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as standin:
        yield standin


def test_pull_request_states(gh: GitHubStandIn, tmp_path: Path) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    git = Git(tmp_path, token)
    work = git.clone(gh.git_url(REPO))
    head = git.commit_and_push(work, {"a.txt": "a\n"}, "burndown/issue-1")
    ours = PyGithubClient(gh.api_url, token, timeout=10, retries=0)
    opened = ours.open_pull(REPO, head="burndown/issue-1", base="main", title="t", body="b")
    pr = ours.get_pull(REPO, opened.number)
    assert (pr.state, pr.merged, pr.head_sha, pr.merged_at) == ("open", False, head, None)
    assert pr.created_at is not None and pr.created_at.tzinfo is not None

    raw = client(gh, token).get_repo(REPO).get_pull(opened.number)
    raw.edit(state="closed")
    closed = ours.get_pull(REPO, opened.number)
    assert (closed.state, closed.merged) == ("closed", False) and closed.closed_at is not None
    raw.edit(state="open")
    raw.merge(merge_method="squash")
    merged = ours.get_pull(REPO, opened.number)
    assert (merged.state, merged.merged) == ("closed", True)
    assert merged.merge_commit_sha == gh.branch_sha(REPO, "main")
    with pytest.raises(GitHubError, match="404"):
        ours.get_pull(REPO, 999)


def test_issues_updated_since_and_commits_since(gh: GitHubStandIn, tmp_path: Path) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    ours = PyGithubClient(gh.api_url, token, timeout=10, retries=0)
    before = datetime.now(UTC) - timedelta(minutes=1)
    one = gh.create_issue(REPO, "one", "", "alice", ["bug"])
    two = gh.create_issue(REPO, "two", "", "alice")
    client(gh, token).get_repo(REPO).get_issue(two).edit(state="closed")
    seen = {i.number: i for i in ours.issues_updated_since(REPO, before)}
    assert set(seen) == {one, two}
    assert (seen[one].state, seen[one].labels, seen[one].is_pull) == ("open", ["bug"], False)
    assert seen[two].state == "closed" and seen[two].closed_at is not None
    assert seen[two].state_reason == "completed"
    assert ours.issues_updated_since(REPO, datetime.now(UTC) + timedelta(minutes=1)) == []

    git = Git(tmp_path, token)
    work = git.clone(gh.git_url(REPO))
    git.env["GIT_COMMITTER_DATE"] = "2031-05-01T00:00:00Z"
    sha = git.commit_and_push(work, {"b.txt": "b\n"}, "main")
    found = ours.commits_since(REPO, "main", datetime(2031, 1, 1, tzinfo=UTC))
    assert [(c.sha, c.message) for c in found] == [(sha, "Change b.txt")]
    assert found[0].committed_at == datetime(2031, 5, 1, tzinfo=UTC)
    assert len(ours.commits_since(REPO, "main", before - timedelta(days=1))) == 2


def test_a_keyed_comment_is_written_once_even_when_the_answer_is_lost(
    gh: GitHubStandIn,
) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    number = gh.create_issue(REPO, "bug", "", "alice")
    ours = PyGithubClient(gh.api_url, token, timeout=10, retries=3)
    # GitHub made the comment but answered 502: a blind retry would post it twice.
    gh.fail_next(
        "POST", rf"/repos/{REPO}/issues/{number}/comments", 502, {"message": "x"}, after=True
    )
    ours.comment(REPO, number, "Burndown opened a pull request", key="run-1")
    ours.comment(REPO, number, "Burndown opened a pull request (updated)", key="run-1")
    ours.comment(REPO, number, "another run", key="run-2")
    bodies = [c["body"] for c in gh.issue_comments(REPO, number)]
    assert len(bodies) == 2
    assert bodies[0].startswith("Burndown opened a pull request (updated)")
    posts = [r for r in gh.requests if r == ("POST", f"/repos/{REPO}/issues/{number}/comments")]
    assert len(posts) == 2  # run-1 once (its answer lost), run-2 once


def test_a_create_is_not_retried_blindly_on_5xx(gh: GitHubStandIn, tmp_path: Path) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    git = Git(tmp_path, token)
    work = git.clone(gh.git_url(REPO))
    git.commit_and_push(work, {"a.txt": "a\n"}, "burndown/issue-1")
    ours = PyGithubClient(gh.api_url, token, timeout=10, retries=3)
    gh.fail_next("POST", rf"/repos/{REPO}/pulls", 502, {"message": "x"}, after=True)
    with pytest.raises(GitHubError, match="502"):
        ours.open_pull(REPO, head="burndown/issue-1", base="main", title="t", body="b")
    assert [r for r in gh.requests if r == ("POST", f"/repos/{REPO}/pulls")] == [
        ("POST", f"/repos/{REPO}/pulls")
    ]
    found = ours.find_open_pull(REPO, "burndown/issue-1")  # what publishing does next time
    assert found is not None


def _pushed(gh: GitHubStandIn, tmp_path: Path) -> PyGithubClient:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    git = Git(tmp_path, token)
    git.commit_and_push(git.clone(gh.git_url(REPO)), {"a.txt": "a\n"}, "burndown/issue-1")
    return PyGithubClient(gh.api_url, token, timeout=10, retries=3)


def _publish(ours: PyGithubClient) -> tuple[object, bool]:
    ticket = Ticket(id=1, repo=REPO, number=1, title="Fix it")
    run = Run(id=1, ticket_id=1, harness="scripted", branch="burndown/issue-1")
    return open_or_update(ours, ticket, run, base="main", body="b", draft=False, label="x")


def test_publishing_finds_the_pull_request_whose_answer_was_lost(
    gh: GitHubStandIn, tmp_path: Path
) -> None:
    ours = _pushed(gh, tmp_path)
    gh.fail_next("POST", rf"/repos/{REPO}/pulls", 502, {"message": "x"}, after=True)
    _, existed = _publish(ours)
    assert not existed and len(gh.pulls(REPO)) == 1
    assert gh.requests.count(("POST", f"/repos/{REPO}/pulls")) == 1  # looked, not re-created


def test_publishing_creates_again_only_when_the_first_create_did_not_happen(
    gh: GitHubStandIn, tmp_path: Path
) -> None:
    ours = _pushed(gh, tmp_path)
    gh.fail_next("POST", rf"/repos/{REPO}/pulls", 502, {"message": "x"})
    _publish(ours)
    assert len(gh.pulls(REPO)) == 1
    assert gh.requests.count(("POST", f"/repos/{REPO}/pulls")) == 2


def test_a_refused_create_honours_retry_after_before_it_is_written_again(
    gh: GitHubStandIn, tmp_path: Path
) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    number = gh.create_issue(REPO, "bug", "", "alice")
    ours = PyGithubClient(gh.api_url, token, timeout=10, retries=3)
    path = f"/repos/{REPO}/issues/{number}/comments"
    limited = {"message": "You have exceeded a secondary rate limit."}
    gh.fail_next("POST", path, 403, limited, {"Retry-After": "2"})
    ours.comment(REPO, number, "hello", key="k")
    posts = [t for t, m, p in gh.timed_requests if (m, p) == ("POST", path)]
    assert len(posts) == 2 and posts[1] - posts[0] >= 2
    assert len(gh.issue_comments(REPO, number)) == 1
