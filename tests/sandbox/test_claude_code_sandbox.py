"""The real Claude Code CLI in the real sandbox container, against the scripted model, which it
reaches through the run's egress proxy (the model's address is the only one allowed)."""

import json
import subprocess
from pathlib import Path

from sandbox.docker_runtime import DockerRuntime
from sandbox.egress_proxy import rule_for_url
from sandbox.harness.adapters.claude_code import ClaudeCode
from sandbox.harness.events import EventKind, HarnessEvent, ResultStatus, usage_of
from sandbox.harness.protocol import HarnessOptions, ModelAccess
from sandbox.runtime import ContainerSpec, Mount, SandboxPolicy
from tests.support.model_server import ScriptedModel, ToolCall, Turn
from tests.support.processes import bridge_gateway


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "greeting.txt").write_text("helo\n")
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True, timeout=30)
    subprocess.run(["chown", "-R", "1000:1000", str(ws)], check=True, timeout=30)
    return ws


def test_claude_code_edits_a_file_and_reports_usage(sandbox_image: str, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    harness = ClaudeCode()
    with ScriptedModel(host=bridge_gateway()) as model:
        model.set_script(
            [
                Turn(
                    tool_calls=[ToolCall(shell="sed -i s/helo/hello/ greeting.txt")],
                    input_tokens=120,
                    output_tokens=30,
                ),
                Turn(text="Fixed the greeting.", input_tokens=200, output_tokens=12),
            ]
        )
        access = ModelAccess(base_url=model.base_url, api_key="sk-test")  # type: ignore[arg-type]
        options = HarnessOptions(max_turns=5)
        invocation = harness.plan("fix the greeting", options, access, "/home/agent")
        spec = ContainerSpec(
            image=sandbox_image,
            command=invocation.argv,
            env=invocation.env,
            mounts=[Mount(source=ws, target="/workspace")],
            policy=SandboxPolicy(
                timeout_seconds=120,
                idle_timeout_seconds=60,
                allow_hosts=(str(rule_for_url(model.base_url)),),
            ),
        )
        lines: list[str] = []
        exit_ = DockerRuntime().run(spec, lines.append)
        assert model.failures == []
    assert exit_.exit_code == 0, exit_.stderr_tail
    assert exit_.egress == []  # the model was reached through the proxy, nothing refused
    assert (ws / "greeting.txt").read_text() == "hello\n"
    events: list[HarnessEvent] = [e for line in lines for e in harness.parse_line(line)]
    kinds = [e.kind for e in events]
    assert kinds[0] == EventKind.SESSION_START and kinds[-1] == EventKind.RESULT
    calls = [e for e in events if e.kind == EventKind.TOOL_CALL]
    assert calls and calls[0].data["name"] == "Bash"
    assert events[-1].data["status"] == ResultStatus.SUCCESS
    usage = usage_of(events)
    assert usage is not None and usage.output_tokens == 42
    assert all(json.loads(line) for line in lines if line.strip())
