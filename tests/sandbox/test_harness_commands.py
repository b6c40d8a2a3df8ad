"""Each adapter's command line and sandbox environment: options become the harness's own flags,
and the model endpoint (a LiteLLM gateway or a direct key) becomes its own base-URL setting."""

from pydantic import SecretStr

from sandbox.harness.access import ModelEndpoints
from sandbox.harness.protocol import Harness, HarnessOptions, ModelAccess
from sandbox.harness.registry import get_harness

GATEWAY = ModelEndpoints(gateway_url="http://gw:4000", gateway_key=SecretStr("gw-key"))
DIRECT = ModelEndpoints(
    anthropic_api_key=SecretStr("ant"),
    openai_base_url="https://llm.example/v1/",
    openai_api_key=SecretStr("oai"),
)


def argv_of(h: Harness, prompt: str, options: HarnessOptions, access: ModelAccess) -> list[str]:
    return h.plan(prompt, options, access, "/home/agent").argv


def env_of(
    h: Harness, access: ModelAccess, home: str, options: HarnessOptions | None = None
) -> dict[str, str]:
    return h.plan("t", options or HarnessOptions(), access, home).env


def after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_a_gateway_is_every_harness_s_endpoint() -> None:
    env = {}
    for name in ("claude-code", "codex", "mini-swe-agent", "aider"):
        h = get_harness(name)
        access = GATEWAY.access_for(h)
        invocation = h.plan("task", HarnessOptions(model="gpt-5.5"), access, "/home/agent")
        env[name] = (invocation.argv, invocation.env)
    argv, e = env["claude-code"]
    assert e["ANTHROPIC_BASE_URL"] == "http://gw:4000" and e["ANTHROPIC_AUTH_TOKEN"] == "gw-key"
    argv, e = env["codex"]
    assert 'base_url="http://gw:4000/v1"' in after(argv, "-c") + " ".join(argv)
    assert e["BURNDOWN_MODEL_KEY"] == "gw-key" and "OPENAI_API_KEY" not in e
    argv, e = env["mini-swe-agent"]
    assert "model.model_kwargs.api_base=http://gw:4000/v1" in argv
    assert after(argv, "-m") == "openai/gpt-5.5" and e["OPENAI_API_KEY"] == "gw-key"
    argv, e = env["aider"]
    assert after(argv, "--openai-api-base") == "http://gw:4000/v1"
    assert after(argv, "--model") == "openai/gpt-5.5" and e["OPENAI_API_KEY"] == "gw-key"


def test_direct_keys_follow_the_api_a_harness_speaks() -> None:
    claude, codex = get_harness("claude-code"), get_harness("codex")
    a = DIRECT.access_for(claude)
    assert a.api_key is not None and a.api_key.get_secret_value() == "ant" and not a.gateway
    o = DIRECT.access_for(codex)
    assert o.base_url == "https://llm.example/v1/"
    env = env_of(codex, ModelAccess(api_key=SecretStr("k")), "/h")
    assert env["OPENAI_API_KEY"] == "k" and env["CODEX_HOME"] == "/h"
    argv = argv_of(codex, "t", HarnessOptions(), ModelAccess())
    assert "-c" not in argv[argv.index("codex") :]


def test_codex_runs_under_its_rollout_follower() -> None:
    argv = argv_of(get_harness("codex"), "t", HarnessOptions(), ModelAccess())
    assert argv[:2] == ["python3", "-c"] and "Rollouts" in argv[2]
    # the follower watches the rollouts under CODEX_HOME, then runs `codex exec --json`
    assert argv[3:8] == ["/home/agent/sessions", "--", "codex", "exec", "--json"]


def test_claude_code_options_become_flags() -> None:
    argv = argv_of(
        get_harness("claude-code"),
        "task",
        HarnessOptions(
            max_budget_usd=0.5,
            extra_system_prompt="Be brief.",
            allowed_tools=["Bash", "Read"],
            disallowed_tools=["WebFetch"],
        ),
        ModelAccess(),
    )
    assert after(argv, "--max-budget-usd") == "0.5"
    assert after(argv, "--append-system-prompt") == "Be brief."
    assert after(argv, "--tools") == "Bash,Read" and after(argv, "--disallowedTools") == "WebFetch"


def test_codex_extra_system_prompt_is_a_toml_string() -> None:
    argv = argv_of(
        get_harness("codex"),
        "task",
        HarnessOptions(extra_system_prompt='Say "hi"\nthen stop.'),
        ModelAccess(),
    )
    assert 'developer_instructions="Say \\"hi\\"\\nthen stop."' in argv
    assert argv[-2:] == ["--", "task"]


def test_mini_swe_agent_limits_become_its_config() -> None:
    h = get_harness("mini-swe-agent")
    options = HarnessOptions(
        model="gpt-5.5", max_turns=4, max_budget_usd=2, extra_system_prompt="X"
    )
    argv = argv_of(h, "task", options, ModelAccess())
    assert "agent.step_limit=4" in argv and after(argv, "-l") == "2.0"
    assert "model.litellm_model_registry=/tmp/burndown-mini/prices.json" in argv
    assert any(a.startswith("agent.system_template=") and a.endswith('\\nX"') for a in argv)
    env = env_of(h, ModelAccess(), "/home/agent", options)
    assert "/tmp/burndown-mini/prices.json" in env["BURNDOWN_MINI_FILES"]


def test_python_harnesses_need_a_model_and_a_price_for_a_budget() -> None:
    import pytest

    from sandbox.errors import HarnessError

    for name in ("mini-swe-agent", "aider"):
        with pytest.raises(HarnessError, match=f"harness '{name}' needs a model"):
            argv_of(get_harness(name), "t", HarnessOptions(), ModelAccess())
    with pytest.raises(HarnessError, match="no price is known for model 'openai/secret-llm'"):
        argv_of(
            get_harness("mini-swe-agent"),
            "t",
            HarnessOptions(model="secret-llm", max_budget_usd=1),
            ModelAccess(),
        )
