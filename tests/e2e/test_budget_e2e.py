"""A run stopped at its limit on real parts: `burndown run` with the real harness CLI (Claude
Code at its turn limit, Codex at its dollar cap) in the real sandbox, a scripted model that
never stops, git and PyGithub against the stand-in."""

import json
import re
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


def test_codex_at_its_dollar_cap_ends_with_budget_and_what_it_spent_told(world: World) -> None:
    """Codex reports usage only when its turn ends; a model that never stops never ends it.
    Burndown follows Codex's rollout, prices each response as it is recorded and stops the run
    at its cap: gpt-5.5 at $1.25 per million input tokens, 100k tokens a call, $0.30 cap."""
    world.model.set_script(shell_forever("codex", "echo again", input_tokens=100_000))
    env = {
        **world.env,
        "BURNDOWN_HARNESS": "codex",
        "BURNDOWN_HARNESS_MODELS": json.dumps({"codex": "gpt-5.5"}),
        "BURNDOWN_OPENAI_BASE_URL": world.model.base_url,
        "BURNDOWN_OPENAI_API_KEY": "sk-test",
        "BURNDOWN_RUN_BUDGET_USD": "0.3",
        "BURNDOWN_RUN_TIMEOUT_SECONDS": "300",
    }
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
    assert "budget" in proc.stdout and "of its $0.30 budget" in proc.stdout, proc.stdout
    assert seconds < 150  # stopped by the cap, not the wall clock
    assert world.github.pulls(REPO) == []
    comments = [c["body"] for c in world.github.issue_comments(REPO, world.number)]
    told = [c for c in comments if "stopped this run at its limit" in c]
    assert told, comments
    spent = re.search(r"It spent \$([0-9.]+)", told[0])
    assert spent is not None and 0.3 <= float(spent.group(1)) < 0.7, told[0]
    assert len(world.model.model_requests()) <= 8
    assert leftovers_of_deployment(env["BURNDOWN_QUEUE"]) == []
