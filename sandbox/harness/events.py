"""The unified event schema every harness adapter maps its native stream to.

`data` by kind (every adapter fills these keys; `raw` keeps the native event whole):

- session_start: session_id, model, cwd, tools, version (None where the harness does not say)
- assistant_text / thinking: text
- tool_call: id, name, input (a dict)
- tool_result: id, output (text), is_error
- file_change: path, and kind (add, update, delete) where the harness says
- usage: input_tokens (not read from a cache), output_tokens, cached_tokens (read from a cache);
  the run's totals so far, so the last one is the run's
- cost: usd, source ("harness" when the harness reported it, "price_table" when Burndown
  computed it from the tokens); absent when nobody knows the price: cost unknown, never zero
- result: status (`ResultStatus`), text, turns, duration_ms
- error: message
- native: type (a native event with no unified meaning, kept); unparsed: text (not JSON at all)
"""

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class EventKind(StrEnum):
    SESSION_START = "session_start"
    ASSISTANT_TEXT = "assistant_text"
    THINKING = "thinking"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    FILE_CHANGE = "file_change"
    USAGE = "usage"
    COST = "cost"
    RESULT = "result"
    ERROR = "error"
    NATIVE = "native"  # a native event with no unified meaning: kept, never dropped
    UNPARSED = "unparsed"  # a line that is not the harness's format (e.g. a crash message)


class ResultStatus(StrEnum):
    SUCCESS = "success"
    MAX_TURNS = "max_turns"
    BUDGET = "budget"
    TIME_LIMIT = "time_limit"
    ERROR = "error"


class HarnessEvent(BaseModel):
    """One unified event. `raw` holds the native event it came from (on the first event a
    native line produced), so nothing the harness said is lost."""

    kind: EventKind
    data: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any] | str | None = None


class Usage(BaseModel):
    """Token counts of a run, as the harness reported them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


def usage_of(events: list[HarnessEvent]) -> Usage | None:
    """The last usage a stream reported (harnesses report totals at the end)."""
    found = [e for e in events if e.kind == EventKind.USAGE]
    return Usage.model_validate(found[-1].data) if found else None


def json_object(line: str) -> dict[str, Any] | None:
    """The JSON object on `line`, or None when the line is not one."""
    try:
        native = json.loads(line)
    except json.JSONDecodeError:
        return None
    return native if isinstance(native, dict) else None


def unparsed(line: str) -> list[HarnessEvent]:
    """A line that is not the harness's format (a crash message, a stray print): kept whole."""
    return [HarnessEvent(kind=EventKind.UNPARSED, data={"text": line}, raw=line)]


def with_raw(events: list[HarnessEvent], native: dict[str, Any]) -> list[HarnessEvent]:
    """`events` with `native` kept raw on the first; a NATIVE event if there are none."""
    out = events or [HarnessEvent(kind=EventKind.NATIVE, data={"type": native.get("type")})]
    out[0].raw = native
    return out


def result_event(status: ResultStatus, text: str = "", **extra: Any) -> HarnessEvent:
    return HarnessEvent(kind=EventKind.RESULT, data={"status": status, "text": text, **extra})


def stopped_result(timed_out: bool, exit_code: int | None, seen: bool) -> list[HarnessEvent]:
    """The result owed when the stream ended without one (`seen` False): the time limit, or an
    error naming the exit code. Nothing when the harness gave its own."""
    if seen:
        return []
    if timed_out:
        return [result_event(ResultStatus.TIME_LIMIT, "stopped at the time limit")]
    return [result_event(ResultStatus.ERROR, f"exited with code {exit_code} and no result")]


def cost_of(events: list[HarnessEvent]) -> float | None:
    found = [e for e in events if e.kind == EventKind.COST and e.data.get("usd") is not None]
    return float(found[-1].data["usd"]) if found else None


class JsonLinesAdapter:
    """`parse_line` and `finish` for adapters whose native output is one JSON object a line:
    a subclass maps one native object (`_map`) and sets `_result_seen` when it saw a result."""

    _result_seen: bool = False

    def _map(self, native: dict[str, Any]) -> list[HarnessEvent]:
        raise NotImplementedError

    def parse_line(self, line: str) -> list[HarnessEvent]:
        if not line.strip():
            return []
        native = json_object(line)
        if native is None:
            return unparsed(line)
        return with_raw(self._map(native), native)

    def finish(self, exit_code: int | None, timed_out: bool) -> list[HarnessEvent]:
        return stopped_result(timed_out, exit_code, self._result_seen)
