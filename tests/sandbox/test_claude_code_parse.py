"""Recorded native Claude Code streams (captured from the real CLI in the sandbox) mapped to
the exact unified events; nothing dropped, raw kept."""

import json
from pathlib import Path

from sandbox.harness.adapters.claude_code import ClaudeCode
from sandbox.harness.events import EventKind, HarnessEvent, ResultStatus, cost_of, usage_of

RECORDINGS = Path(__file__).parent / "recordings"


def parse(name: str) -> tuple[list[str], list[HarnessEvent]]:
    lines = (RECORDINGS / f"claude-code-{name}.jsonl").read_text().splitlines()
    h = ClaudeCode()
    return lines, [e for line in lines for e in h.parse_line(line)]


def test_a_successful_run() -> None:
    lines, events = parse("success")
    assert [
        (e.kind, e.data.get("name") or e.data.get("status") or e.data.get("is_error"))
        for e in events
    ] == [
        (EventKind.SESSION_START, None),
        (EventKind.ASSISTANT_TEXT, None),
        (EventKind.USAGE, None),  # live: the first message began
        (EventKind.TOOL_CALL, "Bash"),  # the same message: no usage again
        (EventKind.TOOL_RESULT, False),
        (EventKind.TOOL_CALL, "Bash"),
        (EventKind.USAGE, None),
        (EventKind.TOOL_RESULT, True),
        (EventKind.ASSISTANT_TEXT, None),
        (EventKind.USAGE, None),
        (EventKind.USAGE, None),  # the result's, exact
        (EventKind.COST, None),
        (EventKind.RESULT, ResultStatus.SUCCESS),
    ]
    start = events[0].data
    assert (
        start["version"] == "2.1.330" and start["cwd"] == "/workspace" and "Bash" in start["tools"]
    )
    assert events[3].data["input"] == {"command": "cat greeting.txt"}
    assert events[4].data["output"] == "helo"
    assert events[8].data["text"] == "Fixed the greeting."
    # Live, each message's input as it began (its output not counted yet); then the result's
    live = [(e.data["input_tokens"], e.data["output_tokens"]) for e in events[:-3]
            if e.kind == EventKind.USAGE]  # fmt: skip
    assert live == [(100, 1), (200, 2), (300, 3)]
    usage = usage_of(events)
    assert usage is not None and (usage.input_tokens, usage.output_tokens) == (300, 60)
    assert cost_of(events) == json.loads(lines[-1])["total_cost_usd"]
    # every native line is kept raw on exactly one unified event
    assert [e.raw for e in events if e.raw is not None] == [json.loads(line) for line in lines]


def test_running_out_of_turns() -> None:
    _, events = parse("max-turns")
    result = events[-1]
    assert result.kind == EventKind.RESULT and result.data["status"] == ResultStatus.MAX_TURNS


def test_unknown_native_events_and_garbage_are_kept() -> None:
    h = ClaudeCode()
    (native,) = h.parse_line('{"type": "rate_limit_event", "x": 1}')
    assert native.kind == EventKind.NATIVE and native.raw == {"type": "rate_limit_event", "x": 1}
    (bad,) = h.parse_line("Segmentation fault")
    assert bad.kind == EventKind.UNPARSED and bad.raw == "Segmentation fault"
    assert h.parse_line("   ") == []


def test_command_and_environment() -> None:
    from pydantic import SecretStr

    from sandbox.harness.protocol import HarnessOptions, ModelAccess

    h = ClaudeCode()
    argv = h.plan("do it", HarnessOptions(model="m1", max_turns=3), ModelAccess(), "/h").argv
    assert argv[:3] == ["claude", "-p", "do it"] and "stream-json" in argv
    assert argv[argv.index("--model") + 1] == "m1" and argv[argv.index("--max-turns") + 1] == "3"
    access = ModelAccess(base_url="http://gw:4000/v1/", api_key=SecretStr("k"))
    env = h.plan("do it", HarnessOptions(), access, "/h").env
    assert env["ANTHROPIC_BASE_URL"] == "http://gw:4000" and env["ANTHROPIC_API_KEY"] == "k"
    assert env["HOME"] == "/h" and env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
