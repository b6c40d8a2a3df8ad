"""The unified event schema every harness adapter maps its native stream to."""

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


def cost_of(events: list[HarnessEvent]) -> float | None:
    found = [e for e in events if e.kind == EventKind.COST and e.data.get("usd") is not None]
    return float(found[-1].data["usd"]) if found else None
