"""The run key life cycle against a stand-in of LiteLLM's key endpoints (the real proxy's key
management needs its database, which cannot run here): made with a budget and an expiry,
worthless once the run ended, whatever way it ended."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from sandbox.fakes import FakeRuntime
from sandbox.harness.access import ModelEndpoints
from sandbox.harness.protocol import HarnessOptions
from sandbox.runtime import ContainerSpec
from tests.support.litellm_keys import LiteLLMKeyStandIn
from tests.worker.test_pipeline import Scene, make_world
from worker.budget import RunLimits
from worker.gateway_keys import GatewayKeyError, LiteLLMKeys, run_key
from worker.pipeline import PipelineConfig, PipelineDeps, run_ticket
from worker.store.models import OutcomeKind
from worker.store.repo import run_events

MASTER = "sk-" + "ab" * 32


@pytest.fixture
def gateway() -> Iterator[LiteLLMKeyStandIn]:
    with LiteLLMKeyStandIn(MASTER, call_cost=0.01) as g:
        yield g


def call(gateway: LiteLLMKeyStandIn, key: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        timeout=5,
    )


def test_a_key_has_its_budget_and_is_worthless_once_deleted(gateway: LiteLLMKeyStandIn) -> None:
    keys = LiteLLMKeys(gateway.base_url + "/v1", SecretStr(MASTER), timeout=5)
    key = keys.create("run-1", max_budget_usd=0.02, seconds=60)
    secret = key.key.get_secret_value()
    assert key.expires is not None
    assert [call(gateway, secret).status_code for _ in range(3)] == [200, 200, 400]
    assert keys.spend(key) == pytest.approx(0.02)
    keys.delete(key)
    assert call(gateway, secret).status_code == 401
    with pytest.raises(GatewayKeyError, match="404"):
        keys.spend(key)


def test_a_key_expires_on_its_own(gateway: LiteLLMKeyStandIn) -> None:
    keys = LiteLLMKeys(gateway.base_url, SecretStr(MASTER), timeout=5)
    key = keys.create("run-2", max_budget_usd=None, seconds=1)
    assert call(gateway, key.key.get_secret_value()).status_code == 200
    time.sleep(1.2)
    assert call(gateway, key.key.get_secret_value()).status_code == 401


def test_a_wrong_master_key_or_no_gateway_is_a_gateway_key_error(
    gateway: LiteLLMKeyStandIn,
) -> None:
    with pytest.raises(GatewayKeyError, match="401"):
        LiteLLMKeys(gateway.base_url, SecretStr("sk-wrong"), timeout=5).create(
            "x", max_budget_usd=1.0, seconds=60
        )
    with pytest.raises(GatewayKeyError, match="failed"):
        LiteLLMKeys("http://127.0.0.1:9", SecretStr(MASTER), timeout=2).create(
            "x", max_budget_usd=1.0, seconds=60
        )


def test_run_key_deletes_the_key_when_the_block_raises(gateway: LiteLLMKeyStandIn) -> None:
    keys = LiteLLMKeys(gateway.base_url, SecretStr(MASTER), timeout=5)
    with pytest.raises(RuntimeError), run_key(keys, "run-3", max_budget_usd=1.0, seconds=60) as use:
        assert call(gateway, use.key.key.get_secret_value()).status_code == 200
        raise RuntimeError("the worker crashed")
    assert gateway.store.keys == {} and len(gateway.store.deleted) == 1
    assert use.gateway_spend_usd == pytest.approx(0.01)


def test_a_pipeline_run_uses_its_own_key_and_the_gateway_spend_is_kept(
    tmp_path: Path, sqlite_engine: Engine, gateway: LiteLLMKeyStandIn
) -> None:
    world = make_world(tmp_path, sqlite_engine)
    used: list[str] = []
    scene = Scene()

    def agent_calls_the_gateway(spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
        if spec.command[0] == "claude":  # the agent: two model calls with the key it was given
            (key,) = [v for v in spec.env.values() if v.startswith("sk-")]
            used.append(key)
            assert [call(gateway, key).status_code for _ in range(2)] == [200, 200]
        return scene(spec, ws)

    keys = LiteLLMKeys(gateway.base_url, SecretStr(MASTER), timeout=5)
    config = PipelineConfig(
        image="img",
        harness="claude-code",
        work_dir=world.tmp / "data",
        options=HarnessOptions(),
        models=ModelEndpoints(gateway_url=gateway.base_url, gateway_key=SecretStr("sk-long-lived")),
        limits=RunLimits(max_usd=0.5),
    )
    runtime = FakeRuntime(agent_calls_the_gateway)
    deps = PipelineDeps(world.engine, world.gh, runtime, "tok", config, gateway_keys=keys)
    outcome = run_ticket(world.ticket(), deps)
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    assert (
        used
        and used[0] != "sk-long-lived"
        and "sk-long-lived" not in json.dumps(runtime.specs[0].env)
    )
    assert gateway.store.keys == {} and gateway.store.deleted == used
    assert call(gateway, used[0]).status_code == 401  # a leaked key is worth nothing now
    (spend,) = [
        json.loads(e.data) for e in run_events(world.engine, outcome.run_id) if e.kind == "spend"
    ]
    assert spend["gateway_usd"] == pytest.approx(0.02)
    assert spend["burndown_usd"] == pytest.approx(0.0123)  # what claude_lines reported
