"""The calls polling and the live status make, through real PyGithub against the stand-in:
conditional issue lists (ETag, 304 at no rate-limit cost), label events, reactions."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.github_standin import GitHubStandIn, client
from worker.github.client import PyGithubClient

REPO = "acme/widgets"


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as standin:
        yield standin


def _remaining(gh: GitHubStandIn, token: str) -> int:
    headers = {"Authorization": f"token {token}"}
    r = httpx.get(f"{gh.api_url}/repos/{REPO}/labels", headers=headers, timeout=10)
    return int(r.headers["X-RateLimit-Remaining"]) + 1  # this look cost one


def test_an_unchanged_issue_list_answers_304_and_costs_nothing(gh: GitHubStandIn) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    ours = PyGithubClient(gh.api_url, token, timeout=10, retries=0)
    one = gh.create_issue(REPO, "one", "", "alice", ["bug"])
    first = ours.open_issues(REPO)
    assert first.etag and first.issues is not None
    assert [(i.number, i.labels, i.is_pull) for i in first.issues] == [(one, ["bug"], False)]
    before = _remaining(gh, token)
    again = ours.open_issues(REPO, first.etag)
    assert again.issues is None and again.etag == first.etag
    assert _remaining(gh, token) == before - 1  # only the look itself counted
    gh.add_label(REPO, one, "burndown", by="maria")
    changed = ours.open_issues(REPO, first.etag)
    assert changed.issues is not None and changed.etag != first.etag
    assert changed.issues[0].labels == ["bug", "burndown"]


def test_label_events_name_who_added_each_label(gh: GitHubStandIn) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    gh.set_permission(REPO, "maria", "maintain")
    maria = gh.add_user("maria")
    number = gh.create_issue(REPO, "one", "", "alice")
    gh.add_label(REPO, number, "bug", by="alice")
    client(gh, maria).get_repo(REPO).get_issue(number).add_to_labels("burndown")
    events = PyGithubClient(gh.api_url, token, timeout=10, retries=0).label_events(REPO, number)
    assert [(e.label, e.actor) for e in events] == [("bug", "alice"), ("burndown", "maria")]
    assert events[0].id != events[1].id and events[0].created_at.tzinfo is not None


def test_a_reaction_is_added_once(gh: GitHubStandIn) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    number = gh.create_issue(REPO, "one", "", "alice")
    ours = PyGithubClient(gh.api_url, token, timeout=10, retries=0)
    ours.react(REPO, number, "eyes")
    ours.react(REPO, number, "eyes")
    reactions = client(gh, token).get_repo(REPO).get_issue(number).get_reactions()
    assert [(r.content, r.user.login) for r in reactions] == [("eyes", "acme")]


def test_comments_since_reads_the_repository_conditionally(gh: GitHubStandIn) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    ours = PyGithubClient(gh.api_url, token, timeout=10, retries=0)
    number = gh.create_issue(REPO, "one", "", "alice")
    before = datetime.now(UTC) - timedelta(seconds=2)
    first = gh.add_comment(REPO, number, "/burndown go", "maria")
    polled = ours.comments_since(REPO, before)
    assert polled.comments is not None and polled.etag
    ((c),) = polled.comments
    assert (c.id, c.number, c.body, c.author, c.is_pull) == (
        first,
        number,
        "/burndown go",
        "maria",
        False,
    )
    assert ours.comments_since(REPO, before, polled.etag).comments is None
    gh.add_comment(REPO, number, "second", "maria")
    again = ours.comments_since(REPO, before, polled.etag)
    assert again.comments is not None and [x.body for x in again.comments][-1] == "second"
    assert ours.comments_since(REPO, datetime.now(UTC) + timedelta(minutes=1)).comments == []
