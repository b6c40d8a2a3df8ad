"""A harness run owes a result and, when the harness reported none, a cost priced from its
tokens: priced from the table when the model has a price, unknown (no cost event) otherwise."""

from pathlib import Path

import pytest

from sandbox.errors import HarnessError
from sandbox.fakes import FakeRuntime
from sandbox.harness.events import EventKind, HarnessEvent, Usage, cost_of
from sandbox.harness.prices import ModelPrice, PriceTable, default_prices
from sandbox.harness.protocol import HarnessOptions, ModelAccess
from sandbox.harness.registry import get_harness
from sandbox.harness.run import HarnessJob, harness_spec, run_harness
from sandbox.runtime import ContainerSpec, SandboxPolicy

RECORDING = Path(__file__).parents[1] / "sandbox" / "recordings" / "codex-success.jsonl"


def replay(model: str | None, code: int = 0) -> list[HarnessEvent]:
    job = codex_job(SandboxPolicy(), HarnessOptions(model=model))
    runtime = FakeRuntime(lambda _spec, _ws: (RECORDING.read_text().splitlines(), code))
    events: list[HarnessEvent] = []
    run_harness(runtime, job, events.append)
    return events


def codex_job(policy: SandboxPolicy, options: HarnessOptions) -> HarnessJob:
    return HarnessJob(
        harness="codex",
        prompt="t",
        image="img",
        workspace=Path("/tmp"),
        policy=policy,
        options=options,
        models=ModelAccess(),
        user="1:1",
    )


def test_a_cost_the_harness_did_not_report_is_priced_from_the_table() -> None:
    events = replay("gpt-5.5")
    (cost,) = [e for e in events if e.kind == EventKind.COST]
    # 310 uncached in at 1.25, 10 cached at 0.125, 42 out at 10.0, per million tokens
    assert cost.data == {"usd": 0.00080875, "source": "price_table", "model": "gpt-5.5"}


def test_an_unknown_price_leaves_the_cost_unknown_never_zero() -> None:
    events = replay("house-model-7")
    assert [e for e in events if e.kind == EventKind.COST] == [] and cost_of(events) is None


def test_prices_match_provider_prefixed_names_and_default_cached_to_input() -> None:
    table = PriceTable(prices={"m": ModelPrice(input=2.0, output=4.0)})
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000, cached_tokens=1_000_000)
    assert table.cost_usd("openai/m", usage) == 6.0
    assert table.cost_usd("other", usage) is None and table.cost_usd(None, usage) is None
    assert default_prices().price_of("gpt-5.5") is not None


def test_the_time_limit_option_lowers_the_sandbox_clock_never_raises_it() -> None:
    harness = get_harness("codex")
    policy = SandboxPolicy(timeout_seconds=100)

    def spec(options: HarnessOptions) -> ContainerSpec:
        return harness_spec(codex_job(policy, options), harness)

    spec_ = spec(HarnessOptions(time_limit_seconds=30))
    assert spec_.policy.timeout_seconds == 30
    spec_ = spec(HarnessOptions(time_limit_seconds=900))
    assert spec_.policy.timeout_seconds == 100
    spec_ = spec(HarnessOptions(extra_env={"X": "1"}))
    assert spec_.env["X"] == "1"
    with pytest.raises(HarnessError, match="'codex' does not support the option 'max_turns'"):
        spec(HarnessOptions(max_turns=2))


def test_a_session_start_without_a_model_names_the_one_the_run_asked_for() -> None:
    # Codex's stream never names its model; a budget watch prices the stream's usage with it
    (start,) = [e for e in replay("gpt-5.5") if e.kind == EventKind.SESSION_START]
    assert start.data["model"] == "gpt-5.5"
    (start,) = [e for e in replay(None) if e.kind == EventKind.SESSION_START]
    assert start.data["model"] is None
