"""Every harness stopped at its run limit by Burndown: the real CLI in the real sandbox against
a scripted model that never stops (each answer is one more shell call). Burndown's watch sees
the live events, prices the usage as it arrives (or counts the turns), and kills the run's
sandboxes through the Docker runtime; none of the harnesses is given a limit of its own here,
but for the last test: Claude Code at its own `--max-budget-usd`, as the pipeline hands it."""

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from sandbox.docker_runtime import DockerRuntime
from sandbox.egress_proxy import rule_for_url
from sandbox.harness.events import EventKind, HarnessEvent, ResultStatus
from sandbox.harness.protocol import HarnessOptions, ModelAccess
from sandbox.harness.registry import get_harness
from sandbox.harness.run import HarnessJob, run_harness
from sandbox.runtime import ContainerExit, SandboxPolicy
from tests.sandbox.harness_runner import MODEL
from tests.sandbox.scenarios import AIDER_EDIT
from tests.support.model_server import ScriptedModel, ScriptSource, Turn
from tests.support.model_server.forever import forever, paced, shell_forever
from tests.support.model_server.script import shell_turn
from tests.support.processes import bridge_gateway, leftovers
from tests.support.watched import watched
from worker.budget import BudgetWatch, RunLimits, harness_options

TIMEOUT = 240.0


@pytest.fixture
def run_id() -> Iterator[str]:
    rid = f"budget-{uuid.uuid4().hex[:12]}"
    yield rid
    assert leftovers(rid) == [], f"run {rid} left resources behind"


def run_limited(
    name: str,
    script: ScriptSource,
    limits: RunLimits,
    image: str,
    tmp: Path,
    run_id: str,
    options: HarnessOptions | None = None,
) -> tuple[BudgetWatch, ContainerExit, list[HarnessEvent], int, float]:
    ws = tmp / "ws"
    ws.mkdir()
    (ws / "greeting.txt").write_text("helo\n")
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True, timeout=30)
    subprocess.run(["chown", "-R", "1000:1000", str(ws)], check=True, timeout=30)
    options = options or HarnessOptions(model=None if name == "claude-code" else MODEL)
    runtime = DockerRuntime()
    watch, events, on_event = watched(limits, runtime, run_id, MODEL, "budget-test")

    with ScriptedModel(script, host=bridge_gateway(), script_toolless=name == "aider") as model:
        job = HarnessJob(
            harness=name,
            prompt="fix the greeting in greeting.txt",
            image=image,
            workspace=ws,
            user="1000:1000",
            policy=SandboxPolicy(
                timeout_seconds=TIMEOUT,
                idle_timeout_seconds=TIMEOUT,
                allow_hosts=(str(rule_for_url(model.base_url)),),
            ),
            options=options,
            models=ModelAccess(base_url=model.base_url, api_key=SecretStr("sk-test")),
            run_id=run_id,
            deployment="budget-test",
        )
        t0 = time.monotonic()
        exit_ = run_harness(runtime, job, on_event).exit
        seconds = time.monotonic() - t0
        requests = len(model.model_requests())
    return watch, exit_, events, requests, seconds


@pytest.mark.parametrize("harness", ["claude-code", "codex", "mini-swe-agent"])
def test_a_model_that_never_stops_is_stopped_at_the_turn_limit(
    harness: str, sandbox_image: str, tmp_path: Path, run_id: str
) -> None:
    script = shell_forever(harness, "echo again")
    watch, exit_, events, requests, seconds = run_limited(
        harness, script, RunLimits(max_turns=3), sandbox_image, tmp_path, run_id
    )
    assert watch.overrun is not None, [e.kind for e in events]
    assert "turn 4 of at most 3" in watch.overrun.reason
    assert not exit_.timed_out and seconds < TIMEOUT / 2
    assert exit_.exit_code != 0  # killed, not finished
    # The kill came within a few calls of the limit (mini-swe-agent's steps reach Burndown
    # through its trajectory file, so under load a few more calls may start first).
    assert requests <= (12 if harness == "mini-swe-agent" else 6)
    calls = [e for e in events if e.kind == EventKind.TOOL_CALL]
    assert len(calls) >= 3


# Input tokens a call: each call costs a bit more than $0.125 (gpt-5.5 at $1.25 per million
# input tokens; Claude Code's default model, claude-opus-5-5, at $5), so the cap of $0.30 is
# crossed at the third call. Aider's calls cost $0.50 and a bit: it is stopped at the first.
CALL_TOKENS = {"claude-code": 25_000, "codex": 100_000, "mini-swe-agent": 100_000}


@pytest.mark.parametrize("harness", ["claude-code", "codex", "mini-swe-agent", "aider"])
def test_a_model_that_never_stops_is_stopped_at_the_dollar_cap(
    harness: str, sandbox_image: str, tmp_path: Path, run_id: str
) -> None:
    if harness == "aider":
        script: ScriptSource = forever(Turn(text=AIDER_EDIT, input_tokens=400_000))
    else:
        script = shell_forever(harness, "echo again", input_tokens=CALL_TOKENS[harness])
    # A quarter second a call, still faster than any real model: answered at once, mini-swe-agent
    # made five more calls on a loaded machine while its kill was landing.
    watch, exit_, events, requests, seconds = run_limited(
        harness, paced(script, 0.25), RunLimits(max_usd=0.3), sandbox_image, tmp_path, run_id
    )
    assert watch.overrun is not None, [e.kind for e in events]
    assert "of its $0.30 budget" in watch.overrun.reason and not watch.overrun.by_harness
    assert watch.spent_usd is not None and 0.3 <= watch.spent_usd < 0.7
    assert not exit_.timed_out and seconds < TIMEOUT / 2
    assert exit_.exit_code != 0  # killed, not finished
    # Live usage, not a result's: the harness was killed before reporting one (Aider's whole
    # run is the one call that crosses the cap, so its own answer may be out before the kill)
    (result,) = [e.data for e in events if e.kind == EventKind.RESULT]
    assert harness == "aider" or "no result" in result["text"], result
    # Stopped within a few calls of the cap: mini-swe-agent's steps reach Burndown through its
    # trajectory file and Codex's usage through its rollout, so under load a call or two more
    # may start before the kill lands.
    assert requests <= 8


def test_claude_code_stops_itself_at_its_own_cap_where_live_usage_cannot_see_the_cost(
    sandbox_image: str, tmp_path: Path, run_id: str
) -> None:
    """Claude Code's live usage counts a message's input as it begins, not its output: a model
    whose every answer is 40k output tokens looks nearly free to Burndown's watch until the
    result. Claude Code's own `--max-budget-usd` (the run's cap, handed to it as the pipeline
    does) stops it after the first answer; its result carries the cost, and the watch records
    the overrun: the run's outcome is `budget`."""
    turn = shell_turn("claude-code", "echo again", input_tokens=1000, output_tokens=40_000)
    limits = RunLimits(max_usd=0.3)
    options = harness_options(get_harness("claude-code"), HarnessOptions(), limits)
    assert options.max_budget_usd == 0.3
    watch, exit_, events, requests, seconds = run_limited(
        "claude-code", forever(turn), limits, sandbox_image, tmp_path, run_id, options
    )
    (result,) = [e.data for e in events if e.kind == EventKind.RESULT]
    assert result["status"] == ResultStatus.BUDGET, result  # Claude Code stopped itself
    kinds = [e.kind for e in events]
    # usage seen live, before the result's own (usage, cost, result)
    assert kinds.index(EventKind.USAGE) < len(kinds) - 3, kinds
    assert watch.overrun is not None and watch.spent_usd is not None and watch.spent_usd >= 0.3
    assert not exit_.timed_out and seconds < TIMEOUT / 2
    assert requests <= 2
