"""The live status: one comment per ticket, edited through queued, running, verifying and
the result; a reaction at intake. Real intake and pipeline, fake GitHub and runtime; and the
real client's keyed comment against the stand-in (one comment, edited in place)."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from tests.support.github_standin import GitHubStandIn, labeled
from tests.worker.test_pipeline import REPO, Scene, World, claude_lines, make_world
from worker.github.client import PyGithubClient
from worker.live_status import show, status_key
from worker.store.repo import find_ticket, record_delivery


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Engine) -> World:
    return make_world(tmp_path, sqlite_engine)


def _statuses(world: World, ticket_id: int) -> list[str]:
    return world.gh.statuses[(REPO, 3, status_key(ticket_id))]


def test_intake_reacts_and_shows_queued(world: World) -> None:
    world.gh.roles[(REPO, "maria")] = "maintain"
    body = labeled(repo=REPO, number=3, sender="maria", title="Typo", body="helo")
    record_delivery(world.engine, "d1", "issues", "labeled", json.dumps(body))
    process_delivery("d1", IntakeDeps(world.engine, world.gh, "burndown", lambda _: None))
    ticket = find_ticket(world.engine, REPO, 3)
    assert ticket is not None and ticket.id is not None
    assert world.gh.reactions == [(REPO, 3, "eyes")]
    (queued,) = _statuses(world, ticket.id)
    assert "queued" in queued and "@maria" in queued


def test_a_run_moves_the_status_through_its_stages_to_the_pull_request(world: World) -> None:
    ticket_id = world.ticket()
    outcome, _ = world.run(Scene(), ticket_id)
    assert outcome is not None and outcome.pr_url
    stages = _statuses(world, ticket_id)
    assert ["running" in stages[0], "verifying" in stages[1]] == [True, True]
    assert "claude-code" in stages[0] and "/runs/" in stages[0]
    assert "done: pull request" in stages[-1] and outcome.pr_url in stages[-1]
    assert len(world.gh.statuses) == 1  # one status per ticket


def test_a_run_without_a_pull_request_says_why(world: World) -> None:
    ticket_id = world.ticket()
    world.run(Scene(lines=claude_lines("error_max_turns", "out of turns"), code=1), ticket_id)
    final = _statuses(world, ticket_id)[-1]
    assert "no pull request" in final and "max_turns" in final


def test_a_status_failure_never_fails_the_run(world: World) -> None:
    world.gh.fail["set_status"] = "GitHub answered 502"
    world.gh.fail["react"] = "GitHub answered 502"
    outcome, _ = world.run(Scene(), world.ticket())
    assert outcome is not None and outcome.pr_url


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as standin:
        yield standin


def test_the_status_is_one_comment_edited_in_place(gh: GitHubStandIn) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    number = gh.create_issue(REPO, "one", "", "alice")
    client = PyGithubClient(gh.api_url, token, timeout=10, retries=0)
    show(client, REPO, number, 9, "queued")
    show(client, REPO, number, 9, "running")
    (comment,) = gh.issue_comments(REPO, number)
    assert comment["body"].startswith("running")
    assert comment["created_at"] <= comment["updated_at"]
