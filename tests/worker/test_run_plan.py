"""Run plans: repository wishes within operator maxima; explicit choices win."""

import pytest

from sandbox.errors import HarnessError
from sandbox.harness.base import HarnessOptions
from sandbox.runtime import SandboxPolicy
from worker.errors import ConfigError
from worker.repo_config import parse_repo_config
from worker.run_plan import plan_run, size_bytes

MAX = SandboxPolicy(memory="4g", cpus=2, pids=512, timeout_seconds=1800)


def test_defaults_when_the_repository_says_nothing() -> None:
    plan = plan_run(
        default_harness="claude-code",
        default_options=HarnessOptions(max_turns=50),
        max_policy=MAX,
        repo=parse_repo_config(None),
    )
    assert plan.harness.name == "claude-code" and plan.options.max_turns == 50
    assert plan.policy == MAX


def test_repository_limits_are_clamped_to_the_maxima() -> None:
    repo = parse_repo_config(
        "max_turns: 9\nsandbox:\n  memory: 64g\n  cpus: 1\n  pids: 100000\n  timeout_seconds: 60\n"
    )
    plan = plan_run(
        default_harness="claude-code", default_options=HarnessOptions(), max_policy=MAX, repo=repo
    )
    assert plan.options.max_turns == 9
    assert (plan.policy.memory, plan.policy.cpus, plan.policy.pids) == ("4g", 1, 512)
    assert plan.policy.timeout_seconds == 60
    smaller = parse_repo_config("sandbox:\n  memory: 512m\n")
    assert (
        plan_run(
            default_harness="claude-code",
            default_options=HarnessOptions(),
            max_policy=MAX,
            repo=smaller,
        ).policy.memory
        == "512m"
    )


def test_an_unknown_harness_names_the_valid_ones() -> None:
    with pytest.raises(HarnessError, match=r"'nope'.*claude-code"):
        plan_run(
            default_harness="claude-code",
            default_options=HarnessOptions(),
            max_policy=MAX,
            repo=parse_repo_config("harness: nope\n"),
        )


def test_sizes() -> None:
    assert size_bytes("512m") == 512 * 1024**2 and size_bytes("1.5G") == int(1.5 * 1024**3)
    with pytest.raises(ConfigError):
        size_bytes("lots")
