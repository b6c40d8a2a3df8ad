"""mini-swe-agent, headless: `mini -y --exit-immediately`, its trajectory streamed live.

mini's machine-readable output is its trajectory file, rewritten after every step; its stdout is
a console view for people. So the command runs mini under a small follower (`shims/mini_follow`)
that prints each new trajectory message as a JSON line as soon as mini saves it: events arrive
live (the first event and the idle watchdog work as for the other harnesses) and every message of
the trajectory is kept raw, unchanged.

Options: the model (LiteLLM naming: a bare name gets `openai/`), max turns (`agent.step_limit`),
budget (`agent.cost_limit`, priced from Burndown's table, handed to LiteLLM as a model registry so
mini's own cost is real), extra system prompt (appended to mini's system template). Tool switches
are refused: mini has one tool, bash.
"""

import json
from typing import Any

from sandbox.errors import HarnessError
from sandbox.harness.events import (
    EventKind,
    HarnessEvent,
    JsonLinesAdapter,
    ResultStatus,
    result_event,
)
from sandbox.harness.prices import default_prices
from sandbox.harness.protocol import (
    HarnessInvocation,
    HarnessOptions,
    ModelAccess,
    Provider,
    v1_url,
)
from sandbox.harness.shims import shim_source

TRAJECTORY = "/tmp/burndown-mini/trajectory.json"
REGISTRY = "/tmp/burndown-mini/prices.json"
# mini.yaml's own system template (2.4.6); `agent.system_template` replaces it, so an extra
# system prompt is appended to this text.
DEFAULT_SYSTEM = "You are a helpful assistant that can interact with a computer.\n"
_EXIT_STATUS = {
    "Submitted": ResultStatus.SUCCESS,
    "TimeExceeded": ResultStatus.TIME_LIMIT,
}


class MiniSweAgent(JsonLinesAdapter):
    """Adapter for mini-swe-agent (its trajectory, streamed by the follower)."""

    name = "mini-swe-agent"
    default_base_url = "https://api.openai.com/v1"
    provider: Provider = "openai"
    supported_options = frozenset({"max_turns", "max_budget_usd", "extra_system_prompt"})

    def __init__(self) -> None:
        self._usage = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
        self._exit: dict[str, Any] | None = None
        self._result_seen = False

    def plan(
        self, prompt: str, options: HarnessOptions, access: ModelAccess, home: str
    ) -> HarnessInvocation:
        mini, files = _mini(prompt, options, access)
        argv = ["python3", "-c", shim_source("mini_follow"), TRAJECTORY, "--", *mini]
        return HarnessInvocation(argv=argv, env=_env(access, home, files))

    def _map(self, n: dict[str, Any]) -> list[HarnessEvent]:
        kind = n.get("type")
        if kind == "start":
            info = n.get("info") or {}
            model = ((info.get("config") or {}).get("model") or {}).get("model_name")
            return [
                HarnessEvent(
                    kind=EventKind.SESSION_START,
                    data={
                        "session_id": None,
                        "model": model,
                        "cwd": None,
                        "tools": ["bash"],
                        "version": info.get("mini_version"),
                    },
                )
            ]
        if kind == "message" and isinstance(n.get("message"), dict):
            return self._message(n["message"])
        if kind == "info":
            return self._final(n.get("info") or {}, n.get("exit_code"))
        return []

    def _message(self, m: dict[str, Any]) -> list[HarnessEvent]:
        role, extra = m.get("role"), m.get("extra") or {}
        if role == "assistant":
            events = []
            if m.get("content"):
                events.append(
                    HarnessEvent(kind=EventKind.ASSISTANT_TEXT, data={"text": m["content"]})
                )
            events += [_tool_call(c) for c in m.get("tool_calls") or [] if isinstance(c, dict)]
            usage = (extra.get("response") or {}).get("usage")
            if isinstance(usage, dict):
                events.append(self._add_usage(usage))
            return events
        if role == "tool":
            return [
                HarnessEvent(
                    kind=EventKind.TOOL_RESULT,
                    data={
                        "id": m.get("tool_call_id"),
                        "output": _text(m.get("content")),
                        "is_error": extra.get("returncode") not in (0, None),
                    },
                )
            ]
        if role == "exit":
            self._exit = m
        return [HarnessEvent(kind=EventKind.NATIVE, data={"type": f"message.{role}"})]

    def _add_usage(self, usage: dict[str, Any]) -> HarnessEvent:
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0)
        self._usage["input_tokens"] += int(usage.get("prompt_tokens") or 0) - cached
        self._usage["cached_tokens"] += cached
        self._usage["output_tokens"] += int(usage.get("completion_tokens") or 0)
        return HarnessEvent(kind=EventKind.USAGE, data=dict(self._usage))

    def _final(self, info: dict[str, Any], exit_code: Any) -> list[HarnessEvent]:
        self._result_seen = True
        stats = info.get("model_stats") or {}
        events = []
        cost = float(stats.get("instance_cost") or 0)
        if cost > 0:  # mini counts an unpriced model as 0: that is "unknown", not free
            events.append(
                HarnessEvent(kind=EventKind.COST, data={"usd": cost, "source": "harness"})
            )
        exit_status = str(info.get("exit_status") or "")
        status = _EXIT_STATUS.get(exit_status, ResultStatus.ERROR)
        if exit_status == "LimitsExceeded":
            agent = (info.get("config") or {}).get("agent") or {}
            step_limit = int(agent.get("step_limit") or 0)
            calls = int(stats.get("api_calls") or 0)
            hit_steps = 0 < step_limit <= calls
            status = ResultStatus.MAX_TURNS if hit_steps else ResultStatus.BUDGET
        if status == ResultStatus.SUCCESS and exit_code not in (0, None):
            status = ResultStatus.ERROR
        text = _text((self._exit or {}).get("content")) or exit_status
        events.append(
            result_event(status, text, turns=stats.get("api_calls"), exit_status=exit_status)
        )
        return events


def _mini(
    prompt: str, options: HarnessOptions, access: ModelAccess
) -> tuple[list[str], dict[str, str]]:
    """mini's argv, and the files (path -> text) the follower writes before starting it."""
    if not options.model:
        raise HarnessError(
            "harness 'mini-swe-agent' needs a model: set BURNDOWN_MODEL or `model:` in "
            ".burndown.yml"
        )
    files: dict[str, str] = {}
    model = options.model if "/" in options.model else f"openai/{options.model}"
    mini = ["mini", "-y", "--exit-immediately", "-m", model, "-t", prompt]
    mini += ["-o", TRAJECTORY, "-c", "mini.yaml"]
    if access.base_url:
        mini += ["-c", f"model.model_kwargs.api_base={v1_url(access.base_url)}"]
    mini += ["-c", f"agent.step_limit={options.max_turns or 0}"]
    # 0 = no cost limit; mini's own default (3 USD) would otherwise stop runs silently.
    mini += ["-l", str(options.max_budget_usd or 0)]
    if options.max_budget_usd:
        files[REGISTRY] = json.dumps(_registry(model))
        mini += ["-c", f"model.litellm_model_registry={REGISTRY}"]
    if options.extra_system_prompt:
        text = DEFAULT_SYSTEM + "\n" + options.extra_system_prompt
        mini += ["-c", f"agent.system_template={json.dumps(text)}"]
    return mini, files


def _env(access: ModelAccess, home: str, files: dict[str, str]) -> dict[str, str]:
    env = {
        "HOME": home,
        "MSWEA_GLOBAL_CONFIG_DIR": f"{home}/.config/mini-swe-agent",
        "MSWEA_CONFIGURED": "true",
        "MSWEA_SILENT_STARTUP": "1",
        # a model without a price must not stop the run; its cost is unknown, not zero
        "MSWEA_COST_TRACKING": "ignore_errors",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no price list download
        "BURNDOWN_MINI_FILES": json.dumps(files),
    }
    if access.api_key:
        env["OPENAI_API_KEY"] = access.api_key.get_secret_value()
    return env


def _text(content: Any) -> str:
    if isinstance(content, list):  # multimodal content blocks
        return "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return "" if content is None else str(content)


def _tool_call(call: dict[str, Any]) -> HarnessEvent:
    fn = call.get("function") or {}
    try:
        arguments = json.loads(fn.get("arguments") or "{}")
    except json.JSONDecodeError:
        arguments = {"arguments": fn.get("arguments")}
    return HarnessEvent(
        kind=EventKind.TOOL_CALL,
        data={"id": call.get("id"), "name": fn.get("name"), "input": arguments},
    )


def _registry(model: str) -> dict[str, Any]:
    """A LiteLLM model registry with Burndown's price of `model`, so mini's cost is real."""
    price = default_prices().price_of(model)
    if price is None:
        raise HarnessError(
            f"harness 'mini-swe-agent' cannot enforce max_budget_usd: no price is known for "
            f"model {model!r}"
        )
    entry = {
        "input_cost_per_token": price.input / 1e6,
        "output_cost_per_token": price.output / 1e6,
        "cache_read_input_token_cost": (price.cached_input or price.input) / 1e6,
        "litellm_provider": model.split("/", 1)[0] if "/" in model else "openai",
        "mode": "chat",
    }
    return {model: entry, model.rsplit("/", 1)[-1]: entry}
