"""Script types of the scripted model server: turns, tool calls, errors and requests.

A script is a list of `Turn`s. The turn that answers a request is chosen by counting the assistant
turns that the request's own history already holds, so retries and side requests never move the
script along, and a conversation is answered the same however often a client re-sends it. An error
turn is served once, the first time its position is asked for; the retry then gets the next turn.
Past the end of the script every request gets a final text turn, "Done.", with no tool calls.

A request that carries no tools (a title, a topic, a quota probe) is a side request: it is answered
with a short text and never reaches the script, a callable one included. Subagents (Claude Code's
Agent tool) start a history of their own and so replay the script from turn 0: tell them apart
with a callable script if a test needs them.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Api = Literal["anthropic", "responses", "chat", "other"]
ToolKind = Literal["function", "custom", "local_shell", "other"]

DONE_TEXT = "Done."
SIDE_TEXT = "OK"

# Shell tools as each harness names them, in the order they are preferred when a request offers
# several: Claude Code "Bash", mini-swe-agent "bash", Codex "shell" / "exec_command" /
# "shell_command" (function tools) or "local_shell" (a built-in Responses tool type).
SHELL_TOOL_NAMES = ("Bash", "bash", "shell", "exec_command", "shell_command", "local_shell")

# Used only when a request carries no shell tool at all.
_HARNESS_SHELL_TOOL: dict[str, tuple[str, Literal["str", "argv"]]] = {
    "claude-code": ("Bash", "str"),
    "claude": ("Bash", "str"),
    "codex": ("shell", "argv"),
    "mini-swe-agent": ("bash", "str"),
    "mini": ("bash", "str"),
}


class ScriptError(Exception):
    """The script cannot answer a request (e.g. a shell call and no shell tool offered)."""


@dataclass(frozen=True)
class ToolCall:
    """A tool call: explicit `name` + `arguments`, or `shell` (a command line) that the server
    resolves against the shell tool the request offers (`harness` is the fallback when none)."""

    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    shell: str | None = None
    harness: str | None = None

    def __post_init__(self) -> None:
        if (self.shell is None) == (not self.name):
            raise ValueError("ToolCall needs exactly one of `name` or `shell`")
        if self.harness is not None and self.harness not in _HARNESS_SHELL_TOOL:
            raise ValueError(f"unknown harness {self.harness!r}")


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error answer. `body=None` gives the API's usual error body for the status."""

    status: int
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """One model answer. Token counts are reported as given: for Anthropic `input_tokens` is the
    uncached input and `cached_tokens` the cache reads; for OpenAI `input_tokens` is the prompt
    total and `cached_tokens` the cached part of it. With `error` set, the turn is an HTTP error."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 100
    output_tokens: int = 20
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    error: ErrorReply | None = None


def shell_turn(
    harness: str | None,
    command: str,
    *,
    text: str = "",
    input_tokens: int = 100,
    output_tokens: int = 20,
    cached_tokens: int = 0,
) -> Turn:
    """A turn that runs `command` in the harness's shell tool (resolved from the request's tools;
    `harness` — "claude-code", "codex", "mini-swe-agent" or None — is the fallback)."""
    call = ToolCall(shell=command, harness=harness)
    return Turn(text, [call], input_tokens, output_tokens, cached_tokens)


def error_turn(
    status: int, body: dict[str, Any] | str | None = None, headers: Mapping[str, str] | None = None
) -> Turn:
    """A turn answered with HTTP `status` (e.g. 529 overloaded, 500, 400)."""
    return Turn(error=ErrorReply(status=status, body=body, headers=dict(headers or {})))


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered by a request, whatever the API's shape."""

    name: str
    kind: ToolKind
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    """A request as the server parsed it; what a callable script receives."""

    method: str
    path: str
    query: str
    api: Api
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def model(self) -> str:
        return str(self.body.get("model") or "scripted-model")

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def tools(self) -> list[ToolSpec]:
        return [spec for raw in self.body.get("tools") or [] if (spec := _tool_spec(raw))]

    @property
    def tool_names(self) -> list[str]:
        return [t.name for t in self.tools]

    @property
    def is_side_request(self) -> bool:
        """A request with no tools (a title, a topic, a quota probe): not part of the script."""
        return not self.body.get("tools")

    @property
    def assistant_turns(self) -> int:
        """How many assistant turns the history holds (runs of consecutive assistant items)."""
        items = self.body.get("input") if self.api == "responses" else self.body.get("messages")
        if not isinstance(items, list):
            return 0
        turns, previous = 0, False
        for item in items:
            current = _is_assistant_item(item) if isinstance(item, dict) else False
            turns += current and not previous
            previous = current
        return turns


@dataclass(frozen=True)
class RecordedRequest(Request):
    """A request and how it was answered: `turn_index` is the script position (None for a side
    request or a non-model endpoint), `side` whether it was answered outside the script."""

    status: int
    side: bool
    turn_index: int | None


def _is_assistant_item(item: Mapping[str, Any]) -> bool:
    if item.get("role") == "assistant":
        return True
    return item.get("type") in {
        "function_call",
        "custom_tool_call",
        "local_shell_call",
        "reasoning",
    }


def _tool_spec(raw: Any) -> ToolSpec | None:
    if not isinstance(raw, dict):
        return None
    fn = raw.get("function")
    if isinstance(fn, dict):  # chat completions
        return ToolSpec(str(fn.get("name", "")), "function", fn.get("parameters") or {})
    kind = raw.get("type")
    if kind == "local_shell":
        return ToolSpec("local_shell", "local_shell", {})
    if kind == "custom":
        return ToolSpec(str(raw.get("name", "")), "custom", raw.get("format") or {})
    if "input_schema" in raw:  # anthropic
        return ToolSpec(str(raw.get("name", "")), "function", raw["input_schema"] or {})
    if kind == "function":  # responses
        return ToolSpec(str(raw.get("name", "")), "function", raw.get("parameters") or {})
    return ToolSpec(str(raw.get("name") or kind or ""), "other", raw)


@dataclass(frozen=True)
class ResolvedCall:
    """A tool call ready to render: a unique id, the tool's name and kind, and its arguments."""

    id: str
    name: str
    kind: ToolKind
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments)


_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    """A process-unique id such as `toolu_0001a2b3...`."""
    return f"{prefix}_{next(_ids):04d}{uuid.uuid4().hex[:20]}"


def resolve_calls(request: Request, turn: Turn, id_prefix: str) -> list[ResolvedCall]:
    """Turn the turn's tool calls into concrete ones for this request's tools."""
    tools = {t.name: t for t in request.tools}
    resolved = []
    for call in turn.tool_calls:
        if call.shell is None:
            kind = tools[call.name].kind if call.name in tools else "function"
            resolved.append(ResolvedCall(new_id(id_prefix), call.name, kind, dict(call.arguments)))
            continue
        name, kind, arguments = _shell_call(tools, call.shell, call.harness)
        resolved.append(ResolvedCall(new_id(id_prefix), name, kind, arguments))
    return resolved


def _shell_call(
    tools: Mapping[str, ToolSpec], command: str, harness: str | None
) -> tuple[str, ToolKind, dict[str, Any]]:
    argv = ["bash", "-lc", command]
    for name in SHELL_TOOL_NAMES:
        spec = tools.get(name)
        if spec is None:
            continue
        if spec.kind == "local_shell":
            return name, "local_shell", {"type": "exec", "command": argv}
        props = spec.schema.get("properties") or {}
        if "command" in props:
            wants_argv = (props["command"] or {}).get("type") == "array"
            return name, spec.kind, {"command": argv if wants_argv else command}
        if "cmd" in props:
            return name, spec.kind, {"cmd": command}
        raise ScriptError(f"shell tool {name!r} has no command/cmd parameter: {props}")
    if harness is None:
        raise ScriptError(f"no shell tool among {sorted(tools)} and no harness to fall back on")
    name, shape = _HARNESS_SHELL_TOOL[harness]
    return name, "function", {"command": argv if shape == "argv" else command}


ScriptSource = Sequence[Turn] | Callable[[Request], Turn] | None


class Script:
    """Chooses the turn for a request; thread-safe. See the module docstring for the rules."""

    def __init__(self, source: ScriptSource = None) -> None:
        self._lock = threading.Lock()
        self._callable: Callable[[Request], Turn] | None = None
        self._positions: list[tuple[list[ErrorReply], Turn]] = []
        self._trailing_errors: list[ErrorReply] = []
        self._errors_served: dict[int, int] = {}
        self.set(source)

    def set(self, source: ScriptSource) -> None:
        with self._lock:
            self._errors_served = {}
            self._positions, self._trailing_errors = [], []
            self._callable = source if callable(source) else None
            pending: list[ErrorReply] = []
            for turn in source if isinstance(source, Sequence) else []:
                if turn.error is not None:
                    pending.append(turn.error)
                else:
                    self._positions.append((pending, turn))
                    pending = []
            self._trailing_errors = pending

    def turn_for(self, request: Request) -> tuple[int, Turn]:
        """The script position of `request` and the turn (maybe an error) to answer it with."""
        index = request.assistant_turns
        with self._lock:
            if self._callable is not None:
                function = self._callable
            else:
                if index < len(self._positions):
                    errors, turn = self._positions[index]
                else:
                    exhausted = index == len(self._positions)
                    errors = self._trailing_errors if exhausted else []
                    turn = Turn(text=DONE_TEXT)
                served = self._errors_served.get(index, 0)
                if served < len(errors):
                    self._errors_served[index] = served + 1
                    return index, Turn(error=errors[served])
                return index, turn
        return index, function(request)
