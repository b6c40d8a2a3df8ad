"""Claude Code, headless: `claude -p ... --output-format stream-json`.

Usage arrives live: every `assistant` line carries its message's usage as the message began
(input, cache reads and writes exact; output tokens not yet counted), so each new message raises
the running totals Burndown prices; the `result` brings the exact totals and Claude Code's own
cost. Cache writes are counted as input (priced at the input rate: a lower bound).
"""

from typing import Any

from sandbox.harness.events import EventKind, HarnessEvent, JsonLinesAdapter, ResultStatus
from sandbox.harness.protocol import HarnessInvocation, HarnessOptions, ModelAccess, Provider

_STATUS = {
    "success": ResultStatus.SUCCESS,
    "error_max_turns": ResultStatus.MAX_TURNS,
    "error_max_budget_usd": ResultStatus.BUDGET,
    "error_during_execution": ResultStatus.ERROR,
}

_QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}


class ClaudeCode(JsonLinesAdapter):
    """Adapter for the Claude Code CLI."""

    name = "claude-code"
    default_base_url = "https://api.anthropic.com"
    provider: Provider = "anthropic"
    supported_options = frozenset(
        {
            "max_turns",
            "max_budget_usd",
            "extra_system_prompt",
            "allowed_tools",
            "disallowed_tools",
        }
    )

    def __init__(self) -> None:
        self._result_seen = False
        self._messages: dict[str, dict[str, int]] = {}

    def plan(
        self, prompt: str, options: HarnessOptions, access: ModelAccess, home: str
    ) -> HarnessInvocation:
        return HarnessInvocation(argv=_argv(prompt, options), env=_env(access, home))

    def _map(self, native: dict[str, Any]) -> list[HarnessEvent]:
        kind = native.get("type")
        if kind == "result":
            self._result_seen = True
            return [self._final_usage(e) for e in _unified(native)]
        events = _unified(native)
        if kind == "assistant":
            events += self._live_usage(native.get("message") or {})
        return events

    def _live_usage(self, message: dict[str, Any]) -> list[HarnessEvent]:
        """A usage event (the run's totals) if this message raised them. A message comes as one
        line a content block, each with the same usage: counted once, by its id."""
        usage = message.get("usage")
        if not isinstance(usage, dict):
            return []
        key = str(message.get("id") or len(self._messages))
        now = _counts(usage)
        before = self._messages.get(key, {})
        if all(now[f] <= before.get(f, 0) for f in now):
            return []
        self._messages[key] = {f: max(now[f], before.get(f, 0)) for f in now}
        return [HarnessEvent(kind=EventKind.USAGE, data=self._totals())]

    def _totals(self) -> dict[str, int]:
        fields = ("input_tokens", "output_tokens", "cached_tokens")
        return {f: sum(m.get(f, 0) for m in self._messages.values()) for f in fields}

    def _final_usage(self, event: HarnessEvent) -> HarnessEvent:
        """The result's usage, never below what the live messages showed (a result cut short
        at a limit may report none)."""
        if event.kind != EventKind.USAGE:
            return event
        live = self._totals()
        return event.model_copy(
            update={"data": {f: max(v, live[f]) for f, v in event.data.items()}}
        )


def _argv(prompt: str, options: HarnessOptions) -> list[str]:
    argv = [
        "claude",
        "-p",
        prompt,
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        "bypassPermissions",
    ]
    if options.model:
        argv += ["--model", options.model]
    if options.max_turns:
        argv += ["--max-turns", str(options.max_turns)]
    if options.max_budget_usd:
        argv += ["--max-budget-usd", str(options.max_budget_usd)]
    if options.extra_system_prompt:
        argv += ["--append-system-prompt", options.extra_system_prompt]
    # `--tools` narrows the built-in tool set (in bypass mode `--allowedTools` would only
    # pre-approve tools that are allowed anyway); comma-joined, as both flags take a list.
    if options.allowed_tools:
        argv += ["--tools", ",".join(options.allowed_tools)]
    if options.disallowed_tools:
        argv += ["--disallowedTools", ",".join(options.disallowed_tools)]
    return argv


def _env(access: ModelAccess, home: str) -> dict[str, str]:
    env = {"HOME": home, **_QUIET}
    if access.base_url:
        env["ANTHROPIC_BASE_URL"] = access.base_url.rstrip("/").removesuffix("/v1")
    if access.api_key:
        # A gateway (LiteLLM) takes its key as a bearer token, as Anthropic's own doc says.
        var = "ANTHROPIC_AUTH_TOKEN" if access.gateway else "ANTHROPIC_API_KEY"
        env[var] = access.api_key.get_secret_value()
    return env


def _unified(n: dict[str, Any]) -> list[HarnessEvent]:
    kind = n.get("type")
    if kind == "system" and n.get("subtype") == "init":
        return [
            HarnessEvent(
                kind=EventKind.SESSION_START,
                data={
                    "session_id": n.get("session_id"),
                    "model": n.get("model"),
                    "cwd": n.get("cwd"),
                    "tools": n.get("tools", []),
                    "version": n.get("claude_code_version"),
                },
            )
        ]
    if kind == "assistant":
        return [e for b in _blocks(n) for e in _assistant_block(b)]
    if kind == "user":
        return _tool_results(n)
    if kind == "result":
        return _result(n)
    return []


def _blocks(n: dict[str, Any]) -> list[dict[str, Any]]:
    content = (n.get("message") or {}).get("content") or []
    return [b for b in content if isinstance(b, dict)]


def _assistant_block(b: dict[str, Any]) -> list[HarnessEvent]:
    t = b.get("type")
    if t == "text":
        return [HarnessEvent(kind=EventKind.ASSISTANT_TEXT, data={"text": b.get("text", "")})]
    if t == "thinking":
        return [HarnessEvent(kind=EventKind.THINKING, data={"text": b.get("thinking", "")})]
    if t == "tool_use":
        return [
            HarnessEvent(
                kind=EventKind.TOOL_CALL,
                data={"id": b.get("id"), "name": b.get("name"), "input": b.get("input", {})},
            )
        ]
    return [HarnessEvent(kind=EventKind.NATIVE, data={"type": f"assistant.{t}"})]


def _tool_results(n: dict[str, Any]) -> list[HarnessEvent]:
    out: list[HarnessEvent] = []
    for b in _blocks(n):
        if b.get("type") != "tool_result":
            continue
        content = b.get("content")
        if isinstance(content, list):
            content = "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        out.append(
            HarnessEvent(
                kind=EventKind.TOOL_RESULT,
                data={
                    "id": b.get("tool_use_id"),
                    "output": content or "",
                    "is_error": bool(b.get("is_error")),
                },
            )
        )
    extra = n.get("tool_use_result")
    if isinstance(extra, dict):
        paths = [extra["filePath"]] if extra.get("filePath") else []
        paths += (extra.get("bashEditDiff") or {}).get("changedFiles", []) or []
        out += [HarnessEvent(kind=EventKind.FILE_CHANGE, data={"path": p}) for p in paths]
    return out


def _result(n: dict[str, Any]) -> list[HarnessEvent]:
    usage = n.get("usage") or {}
    status = _STATUS.get(str(n.get("subtype")), ResultStatus.ERROR)
    if n.get("is_error") and status == ResultStatus.SUCCESS:
        status = ResultStatus.ERROR
    events = [HarnessEvent(kind=EventKind.USAGE, data=_counts(usage))]
    if n.get("total_cost_usd") is not None:
        events.append(
            HarnessEvent(
                kind=EventKind.COST, data={"usd": n["total_cost_usd"], "source": "harness"}
            )
        )
    events.append(
        HarnessEvent(
            kind=EventKind.RESULT,
            data={
                "status": status,
                "text": n.get("result", ""),
                "turns": n.get("num_turns"),
                "duration_ms": n.get("duration_ms"),
            },
        )
    )
    return events


def _counts(usage: dict[str, Any]) -> dict[str, int]:
    """Anthropic usage as unified counts (cache writes as input)."""
    written = int(usage.get("cache_creation_input_tokens") or 0)
    return {
        "input_tokens": int(usage.get("input_tokens") or 0) + written,
        "output_tokens": int(usage.get("output_tokens") or 0),
        "cached_tokens": int(usage.get("cache_read_input_tokens") or 0),
    }
