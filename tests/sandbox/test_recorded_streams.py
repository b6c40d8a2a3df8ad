"""Recorded native streams of Codex, mini-swe-agent, Aider and Claude Code (captured from the
real CLIs in the sandbox by `python -m tests.sandbox.record`) mapped to the exact unified events.
Every native line is kept raw on exactly one event: nothing is dropped."""

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.harness.events import EventKind, HarnessEvent, ResultStatus, cost_of, usage_of
from sandbox.harness.registry import get_harness

RECORDINGS = Path(__file__).parent / "recordings"
K = EventKind


def replay(harness: str, scenario: str, exit_code: int = 0) -> list[HarnessEvent]:
    lines = (RECORDINGS / f"{harness}-{scenario}.jsonl").read_text().splitlines()
    h = get_harness(harness)
    events = [e for line in lines for e in h.parse_line(line)]
    kept = [e.raw for e in events if e.raw is not None]
    assert kept == [json.loads(line) for line in lines if line.strip()]
    return events + h.finish(exit_code, False)


def headline(events: list[HarnessEvent]) -> list[tuple[EventKind, Any]]:
    """The unified events but NATIVE ones, each with the field that tells them apart."""
    keys = {
        K.TOOL_CALL: "name",
        K.TOOL_RESULT: "is_error",
        K.RESULT: "status",
        K.FILE_CHANGE: "path",
    }
    return [(e.kind, e.data.get(keys.get(e.kind, ""))) for e in events if e.kind != K.NATIVE]


def result(events: list[HarnessEvent]) -> dict[str, Any]:
    (r,) = [e for e in events if e.kind == K.RESULT]
    return r.data


def test_codex_success() -> None:
    events = replay("codex", "success")
    assert headline(events) == [
        (K.SESSION_START, None),
        (K.USAGE, None),  # live: the first response's, from the rollout (its follower's line)
        (K.TOOL_CALL, "exec_command"),
        (K.TOOL_RESULT, False),
        (K.ASSISTANT_TEXT, None),
        (K.USAGE, None),  # live: both responses'
        (K.USAGE, None),  # `turn.completed`'s: the same totals
        (K.RESULT, ResultStatus.SUCCESS),
    ]
    call = next(e for e in events if e.kind == K.TOOL_CALL)
    assert "sed -i s/helo/hello/ greeting.txt" in call.data["input"]["command"]
    assert result(events)["text"] == "Fixed the greeting."
    usage = usage_of(events)
    # Codex counts cached input inside input_tokens; the unified input is the uncached part
    assert usage is not None and usage.model_dump() == {
        "input_tokens": 310,
        "output_tokens": 42,
        "cached_tokens": 10,
    }
    assert cost_of(events) is None  # Codex reports none: the run prices it (test_harness_run)
    live = next(e for e in events if e.kind == K.USAGE)
    assert live.data == {"input_tokens": 110, "output_tokens": 30, "cached_tokens": 10}


def test_codex_error() -> None:
    events = replay("codex", "error", exit_code=1)
    assert headline(events) == [
        (K.SESSION_START, None),
        (K.ERROR, None),
        (K.ERROR, None),
        (K.RESULT, ResultStatus.ERROR),
    ]
    assert "invalid_request_error" in result(events)["text"]


def test_mini_swe_agent_success() -> None:
    events = replay("mini-swe-agent", "success")
    assert headline(events) == [
        (K.SESSION_START, None),
        (K.ASSISTANT_TEXT, None),
        (K.TOOL_CALL, "bash"),
        (K.USAGE, None),
        (K.TOOL_RESULT, False),
        (K.TOOL_CALL, "bash"),
        (K.USAGE, None),
        (K.TOOL_RESULT, True),  # mini does not run the submit command: returncode -1
        (K.COST, None),
        (K.RESULT, ResultStatus.SUCCESS),
    ]
    assert events[0].data["version"] == "2.4.6" and events[0].data["model"] == "openai/gpt-5.5"
    call = next(e for e in events if e.kind == K.TOOL_CALL)
    assert call.data["input"] == {"command": "sed -i s/helo/hello/ greeting.txt"}
    usage = usage_of(events)
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (320, 42)
    assert result(events)["turns"] == 2
    cost = cost_of(events)
    assert cost is not None and cost > 0


def test_mini_swe_agent_max_turns() -> None:
    events = replay("mini-swe-agent", "max-turns")
    assert result(events)["status"] == ResultStatus.MAX_TURNS
    assert result(events)["exit_status"] == "LimitsExceeded"


def test_mini_swe_agent_budget() -> None:
    events = replay("mini-swe-agent", "budget")
    assert result(events)["status"] == ResultStatus.BUDGET
    cost = cost_of(events)
    assert cost is not None and cost > 0.001


def test_mini_swe_agent_error() -> None:
    events = replay("mini-swe-agent", "error", exit_code=1)
    assert headline(events) == [(K.SESSION_START, None), (K.RESULT, ResultStatus.ERROR)]
    assert "AuthenticationError" in result(events)["text"]


def test_aider_success() -> None:
    events = replay("aider", "success")
    assert headline(events) == [
        (K.SESSION_START, None),
        (K.ASSISTANT_TEXT, None),
        (K.USAGE, None),
        (K.FILE_CHANGE, "greeting.txt"),
        (K.RESULT, ResultStatus.SUCCESS),
    ]
    assert events[0].data["version"] == "0.86.2"
    usage = usage_of(events)
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (120, 30)
    assert cost_of(events) is None  # Aider prices an unknown model at 0: unknown, not free
    natives = [e.data["type"] for e in events if e.kind == K.NATIVE]
    assert "io.tool_output" in natives and "event.message_send_starting" in natives


def test_aider_error() -> None:
    events = replay("aider", "error")
    assert headline(events) == [
        (K.SESSION_START, None),
        (K.ERROR, None),
        (K.RESULT, ResultStatus.ERROR),
    ]
    assert "not able to authenticate" in result(events)["text"]


def test_claude_code_budget() -> None:
    events = replay("claude-code", "budget", exit_code=1)
    assert headline(events) == [
        (K.SESSION_START, None),
        (K.TOOL_CALL, "Bash"),
        (K.USAGE, None),  # live, from the assistant message
        (K.USAGE, None),  # the result's
        (K.COST, None),
        (K.RESULT, ResultStatus.BUDGET),
    ]
    # The result cut short at the budget reports no usage; the live messages' stays
    usage = usage_of(events)
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (5000, 1)


def test_claude_code_error() -> None:
    events = replay("claude-code", "error", exit_code=1)
    assert result(events)["status"] == ResultStatus.ERROR
    assert "529" in result(events)["text"]


@pytest.mark.parametrize("harness", ["codex", "mini-swe-agent", "aider", "claude-code"])
def test_a_stream_cut_short_still_ends_with_a_result(harness: str) -> None:
    h = get_harness(harness)
    (timed,) = h.finish(None, True)
    assert timed.kind == K.RESULT and timed.data["status"] == ResultStatus.TIME_LIMIT
    (crashed,) = get_harness(harness).finish(137, False)
    assert crashed.data["status"] == ResultStatus.ERROR and "137" in crashed.data["text"]


@pytest.mark.parametrize("harness", ["codex", "mini-swe-agent", "aider", "claude-code"])
def test_garbage_and_unknown_events_are_kept(harness: str) -> None:
    h = get_harness(harness)
    (bad,) = h.parse_line("Traceback (most recent call last):")
    assert bad.kind == K.UNPARSED and bad.raw == "Traceback (most recent call last):"
    (native,) = h.parse_line('{"type": "brand.new", "x": 1}')
    assert native.kind == K.NATIVE and native.raw == {"type": "brand.new", "x": 1}
    assert h.parse_line("  ") == []
