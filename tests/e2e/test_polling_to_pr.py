"""No webhook reaches Burndown (no API process at all): `burndown beat` polls the repository,
finds the trigger label and who added it, and the worker turns it into a pull request."""

import time
from pathlib import Path

from tests.e2e.conftest import REPO, World
from tests.e2e.test_label_to_pr import _assert_pull_request
from tests.support.github_standin import client
from tests.support.processes import burndown, process, wait_for

INTERVAL = 3.0


def test_polling_alone_turns_a_label_into_a_pull_request(
    world: World, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    gh = world.github
    # The label comes later, while Burndown polls.
    client(gh, world.bot_token).get_repo(REPO).get_issue(world.number).remove_from_labels(
        "burndown"
    )
    env = {
        **world.env,
        "BURNDOWN_DATABASE_URL": postgres_url,
        "BURNDOWN_BROKER_URL": redis_url,
        "BURNDOWN_POLL_REPOS": REPO,
        "BURNDOWN_POLL_INTERVAL_SECONDS": str(INTERVAL),
    }
    env.pop("BURNDOWN_GITHUB_WEBHOOK_SECRET")
    burndown(["db", "upgrade"], env)
    logs = [tmp_path / "worker.log", tmp_path / "beat.log"]
    events = f"/repos/{REPO}/issues/{world.number}/events"
    listed = ("GET", f"/repos/{REPO}/issues")
    with process(["worker"], env, logs[0]), process(["beat"], env, logs[1]):
        wait_for(
            "the first poll", lambda: ("GET", f"/repos/{REPO}/issues") in gh.requests, 60, logs
        )
        gh.add_label(REPO, world.number, "burndown", by="maria")  # a maintainer
        labelled_at = time.monotonic()
        wait_for("the label's events read", lambda: ("GET", events) in gh.requests, 30, logs)
        assert time.monotonic() - labelled_at <= INTERVAL + 10
        wait_for("the pull request", lambda: gh.pulls(REPO), 180, logs)
        polls = gh.requests.count(listed)
        time.sleep(INTERVAL * 2)
        assert gh.requests.count(listed) > polls

    _assert_pull_request(world)
    assert len(gh.pulls(REPO)) == 1  # later polls saw the label again and left it alone
    assert "pr_opened" in burndown(["report"], env)
