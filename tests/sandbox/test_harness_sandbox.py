"""Codex, mini-swe-agent and Aider: the real CLIs in the real sandbox image, against the scripted
model (OpenAI Responses for Codex, Chat Completions for the LiteLLM-based two). Each edits a file,
reports usage, gets a priced cost, and receives the extra system prompt it was given."""

import json
from pathlib import Path

import pytest

from sandbox.harness.events import EventKind, ResultStatus, cost_of, usage_of
from sandbox.harness.protocol import HarnessOptions
from tests.sandbox.harness_runner import MODEL, run
from tests.sandbox.scenarios import scenario

EXTRA = "Always answer like a pirate."
API = {"codex": "/v1/responses", "mini-swe-agent": "/v1/chat/completions"}


@pytest.mark.parametrize("harness", ["codex", "mini-swe-agent", "aider"])
def test_the_harness_edits_a_file_and_reports_usage(
    harness: str, sandbox_image: str, tmp_path: Path
) -> None:
    s = scenario(harness, "success")
    options = HarnessOptions(model=MODEL, extra_system_prompt=EXTRA)
    out = run(harness, s.script(), sandbox_image, tmp_path, options=options)
    assert out.failures == []
    assert out.exit.exit_code == 0, out.exit.stderr_tail
    assert (out.workspace / "greeting.txt").read_text() == "hello\n"
    kinds = [e.kind for e in out.events]
    assert kinds[0] == EventKind.SESSION_START
    (result,) = [e for e in out.events if e.kind == EventKind.RESULT]
    assert result.data["status"] == ResultStatus.SUCCESS
    usage = usage_of(out.events)
    assert usage is not None and usage.output_tokens > 0 and usage.input_tokens > 0
    cost = cost_of(out.events)
    assert cost is not None and cost > 0
    assert out.requests and all(r.path == API.get(harness, r.path) for r in out.requests)
    assert all(EXTRA in json.dumps(r.body) for r in out.requests)
    # the harness left nothing of its own in the checkout (history files, caches)
    assert sorted(p.name for p in out.workspace.iterdir()) == [".git", "greeting.txt"]


def test_codex_stops_on_a_model_error(sandbox_image: str, tmp_path: Path) -> None:
    s = scenario("codex", "error")
    out = run("codex", s.script(), sandbox_image, tmp_path, options=s.options)
    assert out.exit.exit_code == 1
    assert [e.data["status"] for e in out.events if e.kind == EventKind.RESULT] == ["error"]


def test_mini_swe_agent_stops_at_its_turn_limit(sandbox_image: str, tmp_path: Path) -> None:
    s = scenario("mini-swe-agent", "max-turns")
    out = run("mini-swe-agent", s.script(), sandbox_image, tmp_path, options=s.options)
    assert [e.data["status"] for e in out.events if e.kind == EventKind.RESULT] == ["max_turns"]
    assert len(out.requests) == 1


def test_a_harness_stopped_at_the_time_limit_reports_it(sandbox_image: str, tmp_path: Path) -> None:
    from tests.support.model_server import shell_turn

    script = [shell_turn(None, "sleep 60")]
    out = run("codex", script, sandbox_image, tmp_path, timeout=8)
    assert out.exit.timed_out
    results = [e.data["status"] for e in out.events if e.kind == EventKind.RESULT]
    assert results == [ResultStatus.TIME_LIMIT]
