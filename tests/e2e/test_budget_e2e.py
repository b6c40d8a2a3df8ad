"""A run stopped at its limit on real parts: `burndown run` with the real Claude Code in the
real sandbox, a scripted model that never stops, git and PyGithub against the stand-in."""

import subprocess
import sys
import time

from tests.e2e.conftest import REPO, World
from tests.support.model_server.forever import shell_forever
from tests.support.processes import leftovers_of_deployment


def test_a_model_that_never_stops_ends_at_the_turn_limit_with_the_spend_told(
    world: World,
) -> None:
    world.model.set_script(shell_forever("claude-code", "echo again", input_tokens=1000))
    env = {**world.env, "BURNDOWN_RUN_MAX_TURNS": "3", "BURNDOWN_RUN_TIMEOUT_SECONDS": "300"}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "run", f"{REPO}#{world.number}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    seconds = time.monotonic() - t0
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "budget" in proc.stdout and "turn" in proc.stdout
    assert seconds < 150  # stopped by the limit, not the wall clock
    assert world.github.pulls(REPO) == []
    comments = [c["body"] for c in world.github.issue_comments(REPO, world.number)]
    assert any("stopped this run at its limit" in c and "It spent $" in c for c in comments), (
        comments
    )
    assert len(world.model.model_requests()) <= 6
    assert leftovers_of_deployment(env["BURNDOWN_QUEUE"]) == []
