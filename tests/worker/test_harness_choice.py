"""Choosing the harness: override > ticket label > issue body line > .burndown.yml > default;
options a harness cannot honour are refused with its name and the option's."""

import pytest

from sandbox.errors import HarnessError
from sandbox.harness.protocol import HarnessOptions, check_options
from sandbox.harness.registry import get_harness
from sandbox.runtime import SandboxPolicy
from worker.errors import ConfigError
from worker.repo_config import parse_repo_config
from worker.run_plan import TicketChoice, harness_label, plan_run, ticket_choice

MAX = SandboxPolicy()


def choose(
    *,
    override: str | None = None,
    labels: tuple[str, ...] = ("burndown",),
    body: str = "",
    config: str | None = None,
    default: str = "claude-code",
) -> tuple[str, str]:
    plan = plan_run(
        default_harness=default,
        default_options=HarnessOptions(),
        max_policy=MAX,
        repo=parse_repo_config(config),
        override=override,
        ticket=ticket_choice(labels, body, "burndown"),
    )
    return plan.harness.name, plan.source


def test_the_default_when_nobody_chooses() -> None:
    assert choose() == ("claude-code", "default")
    assert choose(default="aider") == ("aider", "default")


def test_the_repository_config_over_the_default() -> None:
    assert choose(config="harness: codex\n") == ("codex", ".burndown.yml")


def test_a_body_line_over_the_repository_config() -> None:
    body = "The button is red.\n\nburndown: mini-swe-agent\n"
    assert choose(body=body, config="harness: codex\n") == (
        "mini-swe-agent",
        "issue body line 'burndown: mini-swe-agent'",
    )
    assert choose(body="  Harness: `aider`  ")[0] == "aider"


def test_a_mention_inside_a_sentence_is_not_a_choice() -> None:
    assert choose(body="we tried harness: codex last week and it failed")[0] == "claude-code"


def test_a_label_over_a_body_line() -> None:
    name, source = choose(labels=("bug", "burndown:codex"), body="harness: aider")
    assert (name, source) == ("codex", "label 'burndown:codex'")


def test_the_override_over_everything() -> None:
    got = choose(override="aider", labels=("burndown:codex",), config="harness: codex\n")
    assert got == ("aider", "override")


def test_harness_labels_follow_the_trigger_label() -> None:
    assert harness_label("burndown:codex", "burndown") == "codex"
    assert harness_label("Burndown:codex", "burndown") == "codex"
    assert harness_label("agent:codex", "agent") == "codex"
    assert harness_label("burndown", "burndown") is None
    assert harness_label("burndown:", "burndown") is None
    assert harness_label("bug", "burndown") is None


def test_unknown_and_ambiguous_choices_say_what_is_valid() -> None:
    with pytest.raises(HarnessError, match=r"label .burndown:gpt. .* valid: aider, claude-code"):
        ticket_choice(["burndown:gpt"], "", "burndown")
    with pytest.raises(ConfigError, match=r"several harnesses.*Valid harnesses: aider"):
        ticket_choice([], "harness: codex\nharness: aider\n", "burndown")
    assert ticket_choice([], "harness: codex\nharness: codex\n", "burndown") == TicketChoice(
        "codex", "issue body line 'harness: codex'"
    )


def test_the_repository_model_applies_only_to_its_harness() -> None:
    def model(config: str, override: str | None) -> str | None:
        return plan_run(
            default_harness="claude-code",
            default_options=HarnessOptions(model="default-model"),
            max_policy=MAX,
            repo=parse_repo_config(config),
            override=override,
            harness_models={"codex": "gpt-5.5"},
        ).options.model

    assert model("harness: claude-code\nmodel: opus\n", None) == "opus"
    assert model("model: opus\n", "aider") == "opus"  # no harness named: the model is for any
    assert model("harness: claude-code\nmodel: opus\n", "codex") == "gpt-5.5"
    assert model("harness: claude-code\nmodel: opus\n", "aider") == "default-model"


def test_repository_options_reach_the_plan() -> None:
    config = (
        "max_budget_usd: 2.5\nsystem_prompt: Be brief.\nallowed_tools: [Bash]\n"
        "disallowed_tools: [WebFetch]\n"
    )
    plan = plan_run(
        default_harness="claude-code",
        default_options=HarnessOptions(),
        max_policy=MAX,
        repo=parse_repo_config(config),
    )
    o = plan.options
    assert (o.max_budget_usd, o.extra_system_prompt) == (2.5, "Be brief.")
    assert (o.allowed_tools, o.disallowed_tools) == (["Bash"], ["WebFetch"])


@pytest.mark.parametrize(
    ("harness", "option", "value"),
    [
        ("codex", "max_turns", 3),
        ("codex", "max_budget_usd", 1.0),
        ("codex", "allowed_tools", ["Bash"]),
        ("aider", "max_turns", 3),
        ("aider", "max_budget_usd", 1.0),
        ("aider", "disallowed_tools", ["x"]),
        ("mini-swe-agent", "allowed_tools", ["bash"]),
        ("mini-swe-agent", "disallowed_tools", ["bash"]),
    ],
)
def test_options_a_harness_cannot_honour_are_refused(
    harness: str, option: str, value: object
) -> None:
    options = HarnessOptions.model_validate({option: value})
    with pytest.raises(HarnessError, match=f"harness '{harness}' does not support the option "
                       f"'{option}'"):  # fmt: skip
        check_options(get_harness(harness), options)


@pytest.mark.parametrize("harness", ["claude-code", "codex", "mini-swe-agent", "aider"])
def test_every_harness_honours_model_time_limit_and_environment(harness: str) -> None:
    options = HarnessOptions(model="m", time_limit_seconds=60, extra_env={"A": "1"})
    check_options(get_harness(harness), options)


def test_claude_code_honours_every_option() -> None:
    options = HarnessOptions(
        model="m",
        max_turns=3,
        max_budget_usd=1.5,
        time_limit_seconds=60,
        extra_system_prompt="x",
        allowed_tools=["Bash"],
        disallowed_tools=["WebFetch"],
        extra_env={"A": "1"},
    )
    check_options(get_harness("claude-code"), options)
