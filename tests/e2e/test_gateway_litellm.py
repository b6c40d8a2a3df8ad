"""Gateway mode end to end: every harness, the real CLI in the real sandbox, reaching its model
only through a real LiteLLM proxy (installed from PyPI into a cached venv) in front of the
scripted model; Burndown's run limit holds through the gateway too.

The proxy's virtual keys need its database (Prisma), which cannot run here, so the sandbox
holds the proxy's master key in these tests; the per-run key life cycle is tested against a
stand-in of LiteLLM's key endpoints (tests/worker/test_gateway_keys.py)."""

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from sandbox.docker_runtime import DockerRuntime
from sandbox.egress_proxy import rule_for_url
from sandbox.harness.access import ModelEndpoints
from sandbox.harness.events import EventKind, HarnessEvent, ResultStatus, usage_of
from sandbox.harness.protocol import HarnessOptions
from sandbox.harness.registry import get_harness
from sandbox.harness.run import HarnessJob, run_harness
from sandbox.runtime import SandboxPolicy
from tests.sandbox.harness_runner import MODEL
from tests.sandbox.scenarios import AIDER_EDIT, FIX, in_order, scenario
from tests.support.litellm_proxy import LiteLLMProxy, litellm_proxy
from tests.support.model_server import ScriptedModel, ScriptSource, Turn, shell_turn
from tests.support.model_server.forever import shell_forever
from tests.support.processes import bridge_gateway, free_port, leftovers
from tests.support.watched import watched
from worker.budget import BudgetWatch, RunLimits

# What the harnesses ask for, routed by the proxy to the scripted model's three APIs.
ROUTES = {
    "claude-*": "anthropic/claude-*",
    "*": "openai/*",
}


@pytest.fixture(scope="module")
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel(host=bridge_gateway()) as m:
        yield m


@pytest.fixture(scope="module")
def proxy(model: ScriptedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLMProxy]:
    work = tmp_path_factory.mktemp("litellm")
    host = bridge_gateway()
    with litellm_proxy(model.base_url, ROUTES, host=host, port=free_port(), work=work) as p:
        yield p


def script_for(harness: str) -> ScriptSource:
    if harness == "aider":
        return in_order([Turn(text=AIDER_EDIT, input_tokens=120, output_tokens=30)])
    if harness == "mini-swe-agent":
        return scenario("mini-swe-agent", "success").script()
    return [shell_turn(None, FIX, input_tokens=120, output_tokens=30), Turn(text="Fixed it.")]


def through_gateway(
    harness_name: str,
    script: ScriptSource,
    model: ScriptedModel,
    proxy: LiteLLMProxy,
    image: str,
    tmp: Path,
    limits: RunLimits,
) -> tuple[list[HarnessEvent], BudgetWatch, int, Path]:
    ws = tmp / "ws"
    ws.mkdir()
    (ws / "greeting.txt").write_text("helo\n")
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True, timeout=30)
    subprocess.run(["chown", "-R", "1000:1000", str(ws)], check=True, timeout=30)
    model.set_script(script)
    model.script_toolless = harness_name == "aider"
    before = len(model.model_requests())
    harness = get_harness(harness_name)
    endpoints = ModelEndpoints(gateway_url=proxy.base_url, gateway_key=SecretStr(proxy.master_key))
    access = endpoints.access_for(harness)
    run_id = f"gw-{uuid.uuid4().hex[:12]}"
    runtime = DockerRuntime()
    watch, events, on_event = watched(limits, runtime, run_id, MODEL, "gateway-test")

    options = HarnessOptions(model=None if harness_name == "claude-code" else MODEL)
    job = HarnessJob(
        harness=harness,
        prompt="fix the greeting in greeting.txt",
        image=image,
        workspace=ws,
        user="1000:1000",
        policy=SandboxPolicy(
            timeout_seconds=180,
            idle_timeout_seconds=180,
            # the sandbox reaches the gateway alone, not the model server behind it
            allow_hosts=(str(rule_for_url(proxy.base_url)),),
        ),
        options=options,
        models=access,
        run_id=run_id,
        deployment="gateway-test",
    )
    run_harness(runtime, job, on_event)
    assert leftovers(run_id) == []
    return events, watch, len(model.model_requests()) - before, ws


@pytest.mark.parametrize("harness", ["claude-code", "codex", "mini-swe-agent", "aider"])
def test_every_harness_works_through_the_real_litellm_proxy(
    harness: str, model: ScriptedModel, proxy: LiteLLMProxy, sandbox_image: str, tmp_path: Path
) -> None:
    events, watch, requests, ws = through_gateway(
        harness, script_for(harness), model, proxy, sandbox_image, tmp_path, RunLimits(max_usd=5)
    )
    results = [e.data["status"] for e in events if e.kind == EventKind.RESULT]
    assert results == [ResultStatus.SUCCESS], (events[-5:], proxy.log.read_text()[-2000:])
    assert (ws / "greeting.txt").read_text() == "hello\n"
    assert requests >= 1  # the scripted model was reached, through the proxy alone
    usage = usage_of(events)
    assert usage is not None and usage.input_tokens > 0
    assert watch.overrun is None


@pytest.mark.parametrize("harness", ["codex", "mini-swe-agent"])
def test_the_run_limit_holds_through_the_gateway(
    harness: str, model: ScriptedModel, proxy: LiteLLMProxy, sandbox_image: str, tmp_path: Path
) -> None:
    _, watch, requests, _ = through_gateway(
        harness,
        shell_forever(harness),
        model,
        proxy,
        sandbox_image,
        tmp_path,
        RunLimits(max_turns=2),
    )
    assert watch.overrun is not None and "turn 3 of at most 2" in watch.overrun.reason
    # Stopped within a few calls of the limit: mini-swe-agent's steps reach Burndown through
    # its trajectory file, so under load a call or two more may start before the kill lands.
    assert requests <= 8
