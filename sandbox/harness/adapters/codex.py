"""Codex, headless: `codex exec --json`, one JSON event per line, its usage followed live.

Codex reports tokens but no cost (the pipeline prices them from the price table), has no turn or
budget limit and no per-tool switches: those options are refused. A custom endpoint needs a
custom provider (`OPENAI_BASE_URL` is ignored by the built-in one) speaking the Responses API.

`codex exec --json` reports usage only in `turn.completed`, when its one turn ends: a model that
never stops never reports any. So the command runs Codex under a small follower
(`shims/codex_follow`) that passes its stdout through and adds `burndown.usage` lines: the usage
Codex records in its rollout files after every model response, summed. `turn.completed` reports
the same count (of `exec`'s one turn): each usage event carries the highest of each figure seen
so far, so nothing is counted twice.
"""

import json
from typing import Any

from sandbox.harness.events import (
    EventKind,
    HarnessEvent,
    JsonLinesAdapter,
    ResultStatus,
    result_event,
)
from sandbox.harness.protocol import (
    HarnessInvocation,
    HarnessOptions,
    ModelAccess,
    Provider,
    v1_url,
)
from sandbox.harness.shims import shim_source

#: The key variable the custom provider reads (never the vendor's own name: no other tool in
#: the sandbox should pick it up by accident).
KEY_VAR = "BURNDOWN_MODEL_KEY"
#: Items that are tools: they start (a call) and complete (a result).
_TOOL_ITEMS = {"command_execution", "file_change", "mcp_tool_call", "web_search"}


class Codex(JsonLinesAdapter):
    """Adapter for the Codex CLI (`codex exec --json`)."""

    name = "codex"
    default_base_url = "https://api.openai.com/v1"
    provider: Provider = "openai"
    supported_options = frozenset({"extra_system_prompt"})

    def __init__(self) -> None:
        self._open: set[str] = set()
        self._last_text = ""
        self._result_seen = False
        self._turns = 0
        self._usage = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0}

    def plan(
        self, prompt: str, options: HarnessOptions, access: ModelAccess, home: str
    ) -> HarnessInvocation:
        follow = ["python3", "-c", shim_source("codex_follow"), f"{home}/sessions", "--"]
        return HarnessInvocation(
            argv=[*follow, *_argv(prompt, options, access)], env=_env(access, home)
        )

    def _map(self, n: dict[str, Any]) -> list[HarnessEvent]:
        kind = n.get("type")
        if kind == "thread.started":
            return [
                HarnessEvent(
                    kind=EventKind.SESSION_START,
                    data={
                        "session_id": n.get("thread_id"),
                        "model": None,
                        "cwd": None,
                        "tools": [],
                        "version": None,
                    },
                )
            ]
        if kind == "turn.started":
            self._turns += 1
            return []
        if kind in ("item.started", "item.updated", "item.completed"):
            item = n.get("item")
            return self._item(str(kind), item) if isinstance(item, dict) else []
        if kind == "burndown.usage":  # the follower's, from the rollout: live
            usage = self._add_usage(n.get("usage") or {})
            return [usage] if usage else []
        if kind == "turn.completed":
            self._result_seen = True
            usage = self._add_usage(n.get("usage") or {})
            return [
                usage or self._usage_event(),
                result_event(ResultStatus.SUCCESS, self._last_text, turns=self._turns),
            ]
        if kind == "turn.failed":
            self._result_seen = True
            message = str((n.get("error") or {}).get("message", ""))
            return [
                HarnessEvent(kind=EventKind.ERROR, data={"message": message}),
                result_event(ResultStatus.ERROR, message, turns=self._turns),
            ]
        if kind == "error":
            return [HarnessEvent(kind=EventKind.ERROR, data={"message": str(n.get("message"))})]
        return []

    def _add_usage(self, totals: dict[str, Any]) -> HarnessEvent | None:
        """A usage event if `totals` (running totals, the rollout's or the turn's) raise any
        count; the highest of each seen so far, so one source never adds to the other."""
        grown = False
        for field, seen in self._usage.items():
            value = int(totals.get(field) or 0)
            if value > seen:
                self._usage[field], grown = value, True
        return self._usage_event() if grown else None

    def _usage_event(self) -> HarnessEvent:
        total_in, cached = self._usage["input_tokens"], self._usage["cached_input_tokens"]
        return HarnessEvent(
            kind=EventKind.USAGE,
            data={
                "input_tokens": total_in - cached,
                "output_tokens": self._usage["output_tokens"],
                "cached_tokens": cached,
            },
        )

    def _item(self, phase: str, item: dict[str, Any]) -> list[HarnessEvent]:
        itype, item_id = item.get("type"), str(item.get("id"))
        if itype in _TOOL_ITEMS:
            events = []
            if item_id not in self._open and phase != "item.updated":
                self._open.add(item_id)
                events.append(_tool_call(item))
            if phase == "item.completed":
                events += _tool_result(item)
            return events
        if phase != "item.completed":
            return []
        if itype == "agent_message":
            self._last_text = str(item.get("text", ""))
            return [HarnessEvent(kind=EventKind.ASSISTANT_TEXT, data={"text": self._last_text})]
        if itype == "reasoning":
            return [HarnessEvent(kind=EventKind.THINKING, data={"text": item.get("text", "")})]
        if itype == "error":
            return [HarnessEvent(kind=EventKind.ERROR, data={"message": item.get("message", "")})]
        return []


def _argv(prompt: str, options: HarnessOptions, access: ModelAccess) -> list[str]:
    argv = [
        "codex",
        "exec",
        "--json",
        "--skip-git-repo-check",
        # The container is the sandbox; Codex's own (bubblewrap) cannot run inside it.
        "--dangerously-bypass-approvals-and-sandbox",
        "--disable",
        "plugins",  # else it looks up github.com
        "--color",
        "never",
    ]
    if options.model:
        argv += ["-m", options.model]
    if access.base_url:
        provider = (
            '{name="burndown",base_url=' + json.dumps(v1_url(access.base_url)) + ","
            f'env_key="{KEY_VAR}",wire_api="responses"}}'
        )
        argv += ["-c", "model_provider=burndown", "-c", f"model_providers.burndown={provider}"]
    if options.extra_system_prompt:
        # A TOML basic string: JSON's escapes are TOML's.
        argv += ["-c", f"developer_instructions={json.dumps(options.extra_system_prompt)}"]
    return [*argv, "--", prompt]


def _env(access: ModelAccess, home: str) -> dict[str, str]:
    env = {"HOME": home, "CODEX_HOME": home}  # must exist: the home tmpfs does
    if access.api_key:
        key = access.api_key.get_secret_value()
        env[KEY_VAR if access.base_url else "OPENAI_API_KEY"] = key
    return env


def _tool_call(item: dict[str, Any]) -> HarnessEvent:
    itype = item.get("type")
    tool_input: dict[str, Any]
    if itype == "command_execution":
        name, tool_input = "exec_command", {"command": item.get("command")}
    elif itype == "file_change":
        name, tool_input = "apply_patch", {"changes": item.get("changes", [])}
    elif itype == "mcp_tool_call":
        name = f"{item.get('server')}.{item.get('tool')}"
        arguments = item.get("arguments")
        tool_input = arguments if isinstance(arguments, dict) else {"arguments": arguments}
    else:
        name, tool_input = "web_search", {"query": item.get("query")}
    return HarnessEvent(
        kind=EventKind.TOOL_CALL, data={"id": item.get("id"), "name": name, "input": tool_input}
    )


def _tool_result(item: dict[str, Any]) -> list[HarnessEvent]:
    failed = item.get("status") == "failed" or item.get("exit_code") not in (None, 0)
    output = item.get("aggregated_output")
    if output is None:
        output = json.dumps(item.get("result") or item.get("error") or item.get("changes") or "")
    events = [
        HarnessEvent(
            kind=EventKind.TOOL_RESULT,
            data={"id": item.get("id"), "output": str(output), "is_error": failed},
        )
    ]
    if item.get("type") == "file_change" and not failed:
        events += [
            HarnessEvent(
                kind=EventKind.FILE_CHANGE, data={"path": c.get("path"), "kind": c.get("kind")}
            )
            for c in item.get("changes") or []
            if isinstance(c, dict)
        ]
    return events
