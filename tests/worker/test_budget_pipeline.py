"""Run limits and run keys through the pipeline, with a scripted runtime and real git."""

import json
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine

from sandbox.fakes import FakeRuntime
from sandbox.harness.access import ModelEndpoints
from sandbox.harness.protocol import HarnessOptions
from sandbox.runtime import ContainerSpec
from tests.worker.test_pipeline import Scene, World, make_world
from worker.budget import RunLimits
from worker.gateway_keys import FakeGatewayKeys
from worker.pipeline import PipelineConfig, PipelineDeps, run_ticket
from worker.store.models import Outcome, OutcomeKind, TicketStatus
from worker.store.repo import get_ticket, run_events


def codex_forever(n: int, tokens: int = 0) -> list[str]:
    """A Codex stream of `n` commands and no end (as a model that never stops would give);
    with `tokens`, each response's input as its rollout follower reports it (running totals)."""
    lines = [json.dumps({"type": "thread.started", "thread_id": "t"})]
    lines.append(json.dumps({"type": "turn.started"}))
    for i in range(n):
        if tokens:
            usage = {"input_tokens": tokens * (i + 1), "output_tokens": 0}
            lines.append(json.dumps({"type": "burndown.usage", "usage": usage}))
        item = {"id": f"i{i}", "type": "command_execution", "command": "ls", "exit_code": 0}
        lines.append(json.dumps({"type": "item.completed", "item": {**item, "status": "done"}}))
    return lines


def aider_forever(n: int) -> list[str]:
    """Aider sending `n` messages of 100k prompt tokens each, never finishing."""
    send = {"prompt_tokens": 100_000, "completion_tokens": 1000, "total_cost": 0.0}
    return [json.dumps({"type": "start", "version": "0.86.2"})] + [
        json.dumps({"type": "event", "event": "message_send", "properties": send}) for _ in range(n)
    ]


def run(
    world: World,
    scene: Scene,
    harness: str,
    options: HarnessOptions,
    keys: FakeGatewayKeys | None = None,
    models: ModelEndpoints | None = None,
    limits: RunLimits | None = None,
    harness_models: dict[str, str] | None = None,
) -> tuple[Outcome | None, FakeRuntime]:
    runtime = FakeRuntime(scene)
    config = PipelineConfig(
        image="img",
        harness=harness,
        work_dir=world.tmp / "data",
        options=options,
        models=models or ModelEndpoints(),
        limits=limits or RunLimits(),
        harness_models=harness_models or {},
    )
    deps = PipelineDeps(
        engine=world.engine,
        github=world.gh,
        runtime=runtime,
        git_token="tok",
        config=config,
        gateway_keys=keys,
    )
    return run_ticket(world.ticket(), deps), runtime


def assert_budget_outcome(world: World, outcome: Outcome | None, runtime: FakeRuntime) -> None:
    assert outcome is not None and outcome.kind == OutcomeKind.BUDGET
    assert runtime.stopped == [str(outcome.run_id)]
    assert world.gh.pulls == []
    ticket = get_ticket(world.engine, outcome.ticket_id)
    assert ticket is not None and ticket.status == TicketStatus.FAILED
    notes = [
        json.loads(e.data) for e in run_events(world.engine, outcome.run_id) if e.kind == "budget"
    ]
    assert len(notes) == 1


def test_codex_is_stopped_at_its_turn_limit_by_burndown(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    world = make_world(tmp_path, sqlite_engine)
    scene = Scene(lines=codex_forever(50))
    outcome, runtime = run(world, scene, "codex", HarnessOptions(), limits=RunLimits(max_turns=5))
    assert_budget_outcome(world, outcome, runtime)
    assert scene.seen == ["agent"]  # nothing verified, nothing published
    assert "--max-turns" not in json.dumps(runtime.specs[0].command)
    comment = world.gh.comments[-1][2]
    assert "stopped this run at its limit: started turn 6 of at most 5" in comment


def test_codex_is_stopped_at_its_dollar_cap_live_with_the_model_chosen_for_it(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    """No default model, Codex's from `BURNDOWN_HARNESS_MODELS`; Codex never names it in its
    stream: the watch still prices the live usage with it, and stops the run at its cap."""
    world = make_world(tmp_path, sqlite_engine)
    scene = Scene(lines=codex_forever(20, tokens=100_000))
    outcome, runtime = run(
        world,
        scene,
        "codex",
        HarnessOptions(),
        limits=RunLimits(max_usd=0.3),
        harness_models={"codex": "gpt-5.5"},
    )
    assert_budget_outcome(world, outcome, runtime)
    # 100k input tokens a response at gpt-5.5's $1.25 a million: the 3rd crosses $0.30
    assert (
        "stopped this run at its limit: spent $0.3750 of its $0.30 budget"
        in (world.gh.comments[-1][2])
    )


def test_aider_is_stopped_at_its_dollar_cap_and_the_issue_hears_the_spend(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    world = make_world(tmp_path, sqlite_engine)
    options = HarnessOptions(model="gpt-5.5")
    outcome, runtime = run(
        world, Scene(lines=aider_forever(20)), "aider", options, limits=RunLimits(max_usd=0.5)
    )
    assert_budget_outcome(world, outcome, runtime)
    # 100k in + 1k out at gpt-5.5's list price is $0.135 a message: the 4th crosses $0.50
    assert "spent $0.5400 of its $0.50 budget" in world.gh.comments[-1][2]
    # the fake runtime plays its whole script even after the stop: all of it was spent
    assert "It spent $2.7000; nothing was published" in world.gh.comments[-1][2]


def test_a_run_gets_its_own_gateway_key_deleted_after_and_its_spend_kept(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    world = make_world(tmp_path, sqlite_engine)
    keys = FakeGatewayKeys()
    keys.spent["burndown-burndown-run-1"] = 0.0123
    models = ModelEndpoints(gateway_url="http://gw:4000", gateway_key=SecretStr("sk-master"))
    outcome, runtime = run(
        world, Scene(), "claude-code", HarnessOptions(max_budget_usd=2.0), keys, models
    )
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    (key,) = keys.created
    assert key.max_budget_usd == 2.0 and key.alias.endswith(f"-run-{outcome.run_id}")
    env = json.dumps(runtime.specs[0].env)
    assert key.key.get_secret_value() in env and "sk-master" not in env
    assert keys.live == {}
    (spend,) = [e for e in run_events(world.engine, outcome.run_id) if e.kind == "spend"]
    data = json.loads(spend.data)
    assert data["gateway_usd"] == 0.0123 and data["burndown_usd"] == 0.0123


def test_the_run_key_is_deleted_whatever_way_the_run_ends(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    world = make_world(tmp_path, sqlite_engine)
    keys = FakeGatewayKeys()
    models = ModelEndpoints(gateway_url="http://gw:4000", gateway_key=SecretStr("sk-master"))

    def crash(spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
        raise RuntimeError("the docker daemon went away")

    one = RunLimits(max_turns=1)
    outcome, _ = run(world, crash, "codex", HarnessOptions(), keys, models, one)  # type: ignore[arg-type]
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert len(keys.created) == 1 and keys.live == {}

    outcome, _ = run(
        world, Scene(lines=codex_forever(9)), "codex", HarnessOptions(), keys, models, one
    )
    assert outcome is not None and outcome.kind == OutcomeKind.BUDGET
    assert len(keys.created) == 2 and keys.live == {}


def test_no_key_from_the_gateway_fails_the_run_before_any_sandbox(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    world = make_world(tmp_path, sqlite_engine)
    keys = FakeGatewayKeys(fail_create=True)
    models = ModelEndpoints(gateway_url="http://gw:4000", gateway_key=SecretStr("sk-master"))
    outcome, runtime = run(world, Scene(), "codex", HarnessOptions(), keys, models)
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert "no run key from the gateway" in outcome.detail and runtime.specs == []
