"""The cost settings become the pipeline's limits, budgets, prices and gateway keys."""

from pathlib import Path

import pytest

from sandbox.harness.events import Usage
from worker.budget import RunLimits
from worker.gateway_keys import LiteLLMKeys
from worker.settings import Settings
from worker.spend import Budgets, WhenSpent
from worker.wiring import gateway_keys, pipeline_config


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_cost_settings_reach_the_pipeline(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yml"
    prices.write_text("house-model: {input: 2, output: 4, source: contract, as_of: 2026-11-01}\n")
    cfg = pipeline_config(
        settings(
            run_budget_usd=1.5,
            run_max_turns=40,
            budget_daily_usd=20,
            budget_repo_monthly_usd=100,
            budget_when_spent="refuse",
            price_file=prices,
            prices={"gpt-5.5": {"input": 1, "output": 1}},
        )
    )
    assert cfg.limits == RunLimits(max_usd=1.5, max_turns=40)
    assert cfg.budgets == Budgets(daily_usd=20, repo_monthly_usd=100, when_spent=WhenSpent.REFUSE)
    assert cfg.prices.cost_usd("house-model", Usage(output_tokens=1_000_000)) == 4.0
    assert cfg.prices.cost_usd("gpt-5.5", Usage(output_tokens=1_000_000)) == 1.0


def test_run_keys_need_the_gateway_and_its_master_key() -> None:
    assert gateway_keys(settings(litellm_api_base="http://gw:4000")) is None
    assert gateway_keys(settings(litellm_master_key="sk-m")) is None
    keys = gateway_keys(settings(litellm_api_base="http://gw:4000/v1", litellm_master_key="sk-m"))
    assert isinstance(keys, LiteLLMKeys)


def test_a_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        settings(run_budget_usd=0)
