"""Codex's usage followed live from its rollout files (`shims/codex_follow`), and mapped by the
Codex adapter without counting the rollout's totals and `turn.completed`'s twice. The follower
runs here as it runs in the sandbox (the image's python3, `-c` source) around a stand-in for
Codex that writes a rollout and waits until the follower has reported it."""

import json
import subprocess
import sys
from pathlib import Path

from sandbox.harness.adapters.codex import Codex
from sandbox.harness.events import EventKind, HarnessEvent, usage_of
from sandbox.harness.shims import shim_source

# A stand-in for `codex exec --json`: its stdout lines, and rollouts recording each response's
# usage (the shapes Codex 0.163 writes). It holds the turn open until the follower has printed
# the first usage (the test then touches FLAG): a model that never stops. Then a second thread
# (a subagent, say) whose rollout starts with a copy of the first response's record, and one
# more response of each thread.
FAKE_CODEX = """
import json, os, sys, time
sessions, flag = sys.argv[1], sys.argv[2]
day = os.path.join(sessions, "2026/12/01")
os.makedirs(day)
def rollout(thread):
    return open(os.path.join(day, f"rollout-2026-12-01T05-18-11-{thread}.jsonl"), "a")
def out(obj):
    print(json.dumps(obj), flush=True)
def record(f, line):
    f.write(line)
    f.flush()
def response(f, rid, inp, cached, outp):
    usage = {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": outp}
    payload = {"response_id": rid, "usage": usage, "thread_token_usage": usage}
    record(f, json.dumps({"type": "token_usage_record", "payload": payload}) + "\\n")
main = rollout("t1")
out({"type": "thread.started", "thread_id": "t1"})
out({"type": "turn.started"})
record(main, json.dumps({"type": "session_meta", "payload": {"id": "t1"}}) + "\\n")
response(main, "r1", 1000, 100, 10)
record(main, '{"type": "event_msg", "payload": {"type": "token_count", "info": ')  # half a line
deadline = time.monotonic() + 30
while not os.path.exists(flag) and time.monotonic() < deadline:
    time.sleep(0.02)
out({"type": "probe", "saw_flag": os.path.exists(flag)})
total = {"input_tokens": 1000, "cached_input_tokens": 100, "output_tokens": 10}
record(main, json.dumps({"total_token_usage": total}) + "}}\\n")
sub = rollout("t2")
response(sub, "r1", 1000, 100, 10)  # the copied history
response(sub, "r3", 500, 0, 5)
response(main, "r2", 1000, 0, 20)
out({"type": "turn.completed",
     "usage": {"input_tokens": 2000, "cached_input_tokens": 100, "output_tokens": 30}})
"""


def test_the_follower_reports_the_rollout_s_totals_while_codex_runs(tmp_path: Path) -> None:
    sessions, flag = tmp_path / "sessions", tmp_path / "flag"
    fake = [sys.executable, "-c", FAKE_CODEX, str(sessions), str(flag)]
    argv = [sys.executable, "-c", shim_source("codex_follow"), str(sessions), "--", *fake]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[dict[str, object]] = []
    for line in proc.stdout:
        lines.append(json.loads(line))
        if lines[-1]["type"] == "burndown.usage":
            flag.touch()
    assert proc.wait(timeout=60) == 0
    types = [line["type"] for line in lines]
    # the first totals came while the turn was still open (the stand-in saw the flag in time)
    assert types[:4] == ["thread.started", "turn.started", "burndown.usage", "probe"], types
    # then Codex's last line and the rollouts' later usage, in whichever order they were seen
    rest = types[4:]
    assert rest.count("turn.completed") == 1 and set(rest) == {"burndown.usage", "turn.completed"}
    assert lines[3]["saw_flag"] is True
    first = lines[2]["usage"]
    last = [line["usage"] for line in lines[4:] if line["type"] == "burndown.usage"][-1]
    assert first == {
        "input_tokens": 1000,
        "cached_input_tokens": 100,
        "output_tokens": 10,
        "reasoning_output_tokens": 0,
    }
    # r1 + r2 + r3, r1 once
    assert isinstance(last, dict)
    assert (last["input_tokens"], last["cached_input_tokens"], last["output_tokens"]) == (
        2500,
        100,
        35,
    )


def events_of(lines: list[dict[str, object]]) -> list[HarnessEvent]:
    codex = Codex()
    return [e for line in lines for e in codex.parse_line(json.dumps(line))]


def usage_line(inp: int, cached: int, out: int) -> dict[str, object]:
    usage = {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out}
    return {"type": "burndown.usage", "usage": usage}


def test_live_totals_and_the_turn_s_are_one_count() -> None:
    turn = {"input_tokens": 2000, "cached_input_tokens": 100, "output_tokens": 30}
    events = events_of(
        [
            {"type": "thread.started", "thread_id": "t1"},
            usage_line(1000, 100, 10),
            usage_line(1000, 100, 10),  # nothing new: no event
            usage_line(2000, 100, 30),
            {"type": "turn.completed", "usage": turn},
            usage_line(2000, 100, 30),  # the follower's last look, after Codex's own line
        ]
    )
    usages = [e.data for e in events if e.kind == EventKind.USAGE]
    assert usages == [
        {"input_tokens": 900, "output_tokens": 10, "cached_tokens": 100},
        {"input_tokens": 1900, "output_tokens": 30, "cached_tokens": 100},
        {"input_tokens": 1900, "output_tokens": 30, "cached_tokens": 100},  # beside the result
    ]
    usage = usage_of(events)
    assert usage is not None and usage.input_tokens == 1900  # not 1900 + 1900
    assert events[-1].kind == EventKind.NATIVE  # the repeated line is kept, raw


def test_a_turn_that_reports_more_than_the_rollout_raises_the_totals() -> None:
    turn = {"input_tokens": 3000, "cached_input_tokens": 0, "output_tokens": 40}
    events = events_of([usage_line(1000, 100, 10), {"type": "turn.completed", "usage": turn}])
    usage = usage_of(events)
    assert usage is not None
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens) == (2900, 100, 40)
