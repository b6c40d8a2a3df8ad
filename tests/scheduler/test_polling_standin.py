"""Polling through real PyGithub against the stand-in: the label, who added it, the 304s."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from scheduler.intake.polling import PollDeps, poll_repositories
from tests.support.github_standin import GitHubStandIn, client
from worker.github.client import PyGithubClient

REPO = "acme/widgets"


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as standin:
        yield standin


def test_a_label_added_between_polls_is_delivered_once(gh: GitHubStandIn, engine: Engine) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    gh.set_permission(REPO, "maria", "maintain")
    number = gh.create_issue(REPO, "Fix it", "Teh", "sam")
    gh.add_label(REPO, number, "burndown")
    client(gh, token).get_repo(REPO).get_issue(number).remove_from_labels("burndown")
    sent: list[str] = []
    deps = PollDeps(
        engine, PyGithubClient(gh.api_url, token, timeout=10, retries=0), "burndown", sent.append
    )
    assert poll_repositories(deps, [REPO]).delivered == []
    assert poll_repositories(deps, [REPO]).not_modified == 1
    gh.add_label(REPO, number, "burndown", by="maria")
    counts = poll_repositories(deps, [REPO])
    assert counts.errors == [] and len(counts.delivered) == 1 and sent == counts.delivered
    assert poll_repositories(deps, [REPO]).not_modified == 1
    assert len(sent) == 1
