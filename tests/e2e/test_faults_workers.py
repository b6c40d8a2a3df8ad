"""Faults of worker processes, through real processes: the api, intake and run workers and beat
on real Redis and PostgreSQL, the scripted harness in real sandboxes, the GitHub stand-in."""

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deployment import REPO, Deployment, deployment, fix_script
from tests.support.github_standin import GitHubStandIn


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as gh:
        yield gh


def _running(d: Deployment, number: int) -> bool:
    return d.ticket_status(number) == "running" and bool(d.sandboxes())


def _handled(d: Deployment) -> bool:
    rows = d.rows("SELECT status, note FROM delivery ORDER BY received_at")
    return len(rows) == 2 and (str(rows[1][0]), rows[1][1]) == ("processed", "queued")


def test_intake_is_handled_while_every_run_slot_is_busy(
    github: GitHubStandIn, sandbox_image: str, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    with deployment(
        github,
        tmp_path,
        image=sandbox_image,
        database_url=postgres_url,
        redis_url=redis_url,
        script=fix_script(sleep_seconds=60),
        BURNDOWN_RUN_SLOTS="1",
    ) as d:
        d.api()
        d.start("runs", ["worker", "--role", "runs"])
        d.start("intake", ["worker", "--role", "intake"])
        busy = d.issue()
        d.deliver(busy)
        d.wait("the only run slot to be busy", lambda: _running(d, busy), 120)
        waiting = d.issue()
        t0 = time.monotonic()
        d.deliver(waiting)
        d.wait("the new ticket to be queued", lambda: d.ticket_status(waiting) == "queued", 15)
        d.wait("the delivery to be recorded as handled", lambda: _handled(d), 15)
        handled = time.monotonic() - t0
        assert d.ticket_status(busy) == "running"  # the slot was busy the whole time
    assert handled < 15


def test_sigterm_requeues_the_run_after_the_grace_and_another_worker_completes_it(
    github: GitHubStandIn, sandbox_image: str, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    with deployment(
        github,
        tmp_path,
        image=sandbox_image,
        database_url=postgres_url,
        redis_url=redis_url,
        script=fix_script(sleep_seconds=8),
        BURNDOWN_SHUTDOWN_GRACE_SECONDS="1",
    ) as d:
        d.api()
        d.start("intake", ["worker", "--role", "intake"])
        d.start("first", ["worker", "--role", "runs"])
        number = d.issue()
        d.deliver(number)
        d.wait("the run to start", lambda: _running(d, number), 120)
        d.signal("first", signal.SIGTERM)
        d.wait("the first run to end", lambda: d.runs_of(number)[0][0] != "running", 60)
        status, outcome, _ = d.runs_of(number)[0]
        assert (status, outcome) == ("cancelled", "cancelled")
        assert d.ticket_status(number) == "queued"
        (detail,) = d.rows("SELECT detail FROM outcome")[0]
        assert "queued again" in detail
        d.wait("the first worker to exit", lambda: d.procs["first"].poll() is not None, 60)
        d.start("beat", ["beat"])
        d.start("second", ["worker", "--role", "runs"])
        d.wait("the ticket to be done", lambda: d.ticket_status(number) == "done", 180)
        assert d.pulls_per_branch() == {f"burndown/issue-{number}": 1}
        assert d.wait("no leftovers", lambda: not d.sandboxes(), 60)


def test_a_killed_worker_s_run_is_closed_swept_and_completed_elsewhere(
    github: GitHubStandIn, sandbox_image: str, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    with deployment(
        github,
        tmp_path,
        image=sandbox_image,
        database_url=postgres_url,
        redis_url=redis_url,
        script=fix_script(sleep_seconds=8),
        BURNDOWN_HEARTBEAT_TIMEOUT_SECONDS="4",
    ) as d:
        d.api()
        d.start("intake", ["worker", "--role", "intake"])
        d.start("first", ["worker", "--role", "runs"])
        number = d.issue()
        d.deliver(number)
        d.wait("the run to start", lambda: _running(d, number), 120)
        assert d.workspaces()
        d.kill("first")
        d.start("beat", ["beat"])
        d.wait("the lost run to be closed", lambda: d.runs_of(number)[0][0] != "running", 60)
        status, _, error = d.runs_of(number)[0]
        assert status == "failed" and error
        d.start("second", ["worker", "--role", "runs"])
        d.wait("the ticket to be done", lambda: d.ticket_status(number) == "done", 180)
        assert d.pulls_per_branch() == {f"burndown/issue-{number}": 1}
        comments = [c["body"] for c in github.issue_comments(REPO, number)]
        assert d.duplicate_comments([number]) == 0 and len(comments) >= 2
        assert d.wait("no leftovers", lambda: not d.sandboxes(), 60)
        assert d.wait("no workspaces", lambda: not d.workspaces(), 30)
