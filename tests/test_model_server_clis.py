"""The scripted model server against the real harness CLIs, run on the host in a temp git repo.

The binaries come from environment variables; a missing one fails the test (never skips):
- BURNDOWN_TEST_CLAUDE_BIN: `claude_agent_sdk/_bundled/claude` from the claude-agent-sdk wheel
- BURNDOWN_TEST_CODEX_BIN: `codex_cli_bin/bin/codex` from the openai-codex-cli-bin wheel
- BURNDOWN_TEST_MINI_BIN: `mini` of a venv with mini-swe-agent (and `mcp`, which litellm 1.106
  imports as soon as a request carries tools)
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.model_server import ScriptedModel, Turn, error_turn, shell_turn

CODEX_MODEL = "gpt-5.5"  # a slug Codex 0.163 knows: an unknown one adds a "metadata" error item


def binary(variable: str) -> str:
    path = os.environ.get(variable)
    if not path:
        pytest.fail(
            f"{variable} is not set: point it at the harness binary (see this module's "
            "docstring for where it comes from)",
            pytrace=False,
        )
    if not os.access(path, os.X_OK):
        pytest.fail(f"{variable}={path} is not an executable file", pytrace=False)
    return path


def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def run(cmd: list[str], repo: Path, env: dict[str, str]) -> tuple[int, list[dict[str, Any]], str]:
    """Exit code, the JSON lines of stdout, and all output (for assertion messages)."""
    proc = subprocess.run(
        cmd,
        cwd=repo,
        env={"PATH": os.environ["PATH"], **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, lines, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


# Claude Code


def claude(model: ScriptedModel, tmp_path: Path, **extra_env: str) -> tuple[int, list[Any], str]:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": model.base_url,
        "ANTHROPIC_API_KEY": "test",
        "IS_SANDBOX": "1",  # bypassPermissions is refused for root without it
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        **extra_env,
    }
    cmd = [
        binary("BURNDOWN_TEST_CLAUDE_BIN"),
        "-p",
        "create hello.txt",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        "bypassPermissions",
    ]
    return run(cmd, git_repo(tmp_path), env)


def test_claude_code_runs_a_scripted_shell_call(tmp_path: Path):
    script = [
        shell_turn("claude-code", "echo hi > hello.txt", input_tokens=111, output_tokens=22,
                   cached_tokens=7),
        Turn(text="done", input_tokens=200, output_tokens=30, cached_tokens=50),
    ]  # fmt: skip
    with ScriptedModel(script) as model:
        code, lines, output = claude(model, tmp_path)
    assert code == 0, output
    assert (tmp_path / "repo" / "hello.txt").read_text() == "hi\n"
    [result] = [line for line in lines if line["type"] == "result"]
    assert result["is_error"] is False and result["subtype"] == "success", output
    assert result["result"] == "done" and result["num_turns"] == 2
    usage = result["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (311, 52)
    assert (usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]) == (57, 0)
    blocks = [
        b for line in lines if line["type"] == "assistant" for b in line["message"]["content"]
    ]
    tool_uses = [(b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
    assert tool_uses == [("Bash", {"command": "echo hi > hello.txt"})]
    requests = model.requests
    assert [(r.method, r.path, r.query, r.turn_index) for r in requests] == [
        ("POST", "/v1/messages", "beta=true", 0),
        ("POST", "/v1/messages", "beta=true", 1),
    ]
    assert all(r.stream and "Bash" in r.tool_names for r in requests)
    assert requests[0].headers["x-api-key"] == "test"


def test_claude_code_reports_an_overloaded_model(tmp_path: Path):
    with ScriptedModel([error_turn(529)]) as model:
        code, lines, output = claude(model, tmp_path, CLAUDE_CODE_MAX_RETRIES="0")
    assert code == 1, output
    [result] = [line for line in lines if line["type"] == "result"]
    assert result["is_error"] is True and result["api_error_status"] == 529, output
    assert [r.status for r in model.requests] == [529]


# Codex


def codex(model: ScriptedModel, tmp_path: Path) -> tuple[int, list[Any], str]:
    home = tmp_path / "home"
    home.mkdir()
    provider = (
        f'model_providers.scripted={{name="scripted",base_url="{model.openai_base_url}",'
        'env_key="SCRIPTED_MODEL_KEY",wire_api="responses",request_max_retries=0,'
        "stream_max_retries=0}"
    )
    cmd = [
        binary("BURNDOWN_TEST_CODEX_BIN"),
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        "-m",
        CODEX_MODEL,
        "--disable",
        "plugins",
        "-c",
        "model_provider=scripted",
        "-c",
        provider,
        "create hello.txt",
    ]
    env = {"HOME": str(home), "CODEX_HOME": str(home), "SCRIPTED_MODEL_KEY": "test"}
    return run(cmd, git_repo(tmp_path), env)


def test_codex_runs_a_scripted_shell_call(tmp_path: Path):
    script = [
        shell_turn("codex", "echo hi > hello.txt", input_tokens=111, output_tokens=22,
                   cached_tokens=7),
        Turn(text="done", input_tokens=200, output_tokens=30, cached_tokens=50),
    ]  # fmt: skip
    with ScriptedModel(script) as model:
        code, lines, output = codex(model, tmp_path)
    assert code == 0, output
    assert (tmp_path / "repo" / "hello.txt").read_text() == "hi\n"
    items = [line["item"] for line in lines if line["type"] == "item.completed"]
    assert [item["type"] for item in items] == ["command_execution", "agent_message"], output
    assert items[0]["exit_code"] == 0 and "echo hi > hello.txt" in items[0]["command"]
    assert items[1]["text"] == "done"
    [completed] = [line for line in lines if line["type"] == "turn.completed"]
    usage = completed["usage"]
    assert (usage["input_tokens"], usage["cached_input_tokens"]) == (311, 57)
    assert (usage["output_tokens"], usage["reasoning_output_tokens"]) == (52, 0)
    requests = model.requests
    assert [(r.method, r.path, r.turn_index) for r in requests] == [
        ("POST", "/v1/responses", 0),
        ("POST", "/v1/responses", 1),
    ]
    assert all(r.stream and "exec_command" in r.tool_names for r in requests)
    assert requests[0].headers["authorization"] == "Bearer test"


def test_codex_reports_a_failing_model(tmp_path: Path):
    with ScriptedModel([error_turn(500)]) as model:
        code, lines, output = codex(model, tmp_path)
    assert code == 1, output
    assert [line["type"] for line in lines][-1] == "turn.failed", output
    assert [r.status for r in model.requests] == [500]


# mini-swe-agent


def test_mini_swe_agent_runs_a_scripted_shell_call(tmp_path: Path):
    script = [
        shell_turn("mini-swe-agent", "echo hi > hello.txt", input_tokens=111, output_tokens=22),
        shell_turn("mini-swe-agent", "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"),
    ]
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "OPENAI_API_KEY": "test",
        "MSWEA_GLOBAL_CONFIG_DIR": str(home / "mswea"),
        "MSWEA_CONFIGURED": "true",
        "MSWEA_SILENT_STARTUP": "1",
        "MSWEA_COST_TRACKING": "ignore_errors",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    trajectory = tmp_path / "traj.json"
    with ScriptedModel(script) as model:
        cmd = [
            binary("BURNDOWN_TEST_MINI_BIN"),
            "-y",
            "--exit-immediately",
            "-m",
            "openai/gpt-5.5",
            "-t",
            "create hello.txt",
            "-o",
            str(trajectory),
            "-c",
            "mini.yaml",
            "-c",
            f"model.model_kwargs.api_base={model.openai_base_url}",
        ]
        code, _, output = run(cmd, git_repo(tmp_path), env)
    assert code == 0, output
    assert (tmp_path / "repo" / "hello.txt").read_text() == "hi\n"
    info = json.loads(trajectory.read_text())["info"]
    assert (info["exit_status"], info["model_stats"]["api_calls"]) == ("Submitted", 2), output
    requests = model.requests
    assert [(r.path, r.api, r.turn_index, r.stream) for r in requests] == [
        ("/v1/chat/completions", "chat", 0, False),
        ("/v1/chat/completions", "chat", 1, False),
    ]
    assert requests[0].tool_names == ["bash"]
