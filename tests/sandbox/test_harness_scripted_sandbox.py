"""The scripted harness in the real sandbox image: the image's python3 plays the script as the
sandbox user, with no network at all (it needs none), and what it does comes back as unified
events through the pipeline's `run_harness`; the limits of the sandbox stop it as they stop any
harness. Leaves nothing behind."""

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.docker_runtime import DockerRuntime
from sandbox.harness.events import EventKind, ResultStatus
from sandbox.harness.protocol import HarnessOptions, ModelAccess
from sandbox.harness.run import HarnessJob, HarnessRun, run_harness
from sandbox.harness.scripted import Output, Run, Say, Script, ScriptedHarness, Sleep, Write
from sandbox.runtime import SandboxPolicy
from tests.support.processes import leftovers

pytestmark = pytest.mark.docker


@pytest.fixture
def run_id() -> Iterator[str]:
    rid = f"test-{uuid.uuid4().hex[:12]}"
    yield rid
    assert leftovers(rid) == [], f"run {rid} left resources behind"


def play(image: str, tmp_path: Path, run_id: str, script: Script, idle: float = 60) -> HarnessRun:
    ws = tmp_path / "ws"
    ws.mkdir()
    subprocess.run(["chown", "1000:1000", str(ws)], check=True, timeout=30)
    job = HarnessJob(
        harness=ScriptedHarness(script),
        prompt="play",
        image=image,
        workspace=ws,
        policy=SandboxPolicy(timeout_seconds=60, idle_timeout_seconds=idle),
        options=HarnessOptions(model="gpt-5.5"),
        models=ModelAccess(),
        run_id=run_id,
        deployment="harness-tests",
        user="1000:1000",
    )
    return run_harness(DockerRuntime(), job)


def test_a_script_edits_the_tree_as_the_sandbox_user_without_network(
    sandbox_image: str, tmp_path: Path, run_id: str
) -> None:
    script = Script(
        actions=[
            Write(path="greeting.txt", content="hello\n"),
            Run(command="id -u; ls /sys/class/net; cat greeting.txt"),
            Say(text="Fixed."),
        ]
    )
    done = play(sandbox_image, tmp_path, run_id, script)
    assert done.exit.exit_code == 0, done.exit.stderr_tail
    assert (tmp_path / "ws" / "greeting.txt").read_text() == "hello\n"
    (ran,) = [e for e in done.events if e.kind == EventKind.TOOL_RESULT and e.data["id"] == "t2"]
    assert ran.data["output"] == "1000\nlo\nhello\n" and ran.data["is_error"] is False
    assert done.succeeded and done.final_text == "Fixed." and done.problem() is None


def test_a_silent_script_is_stopped_by_the_idle_limit(
    sandbox_image: str, tmp_path: Path, run_id: str
) -> None:
    done = play(sandbox_image, tmp_path, run_id, Script(actions=[Sleep(seconds=30)]), idle=3)
    assert done.exit.idle_timed_out
    assert done.problem() == "the agent printed nothing for too long and was stopped"


def test_a_megabyte_of_output_arrives_whole(
    sandbox_image: str, tmp_path: Path, run_id: str
) -> None:
    t0 = time.monotonic()
    done = play(sandbox_image, tmp_path, run_id, Script(actions=[Output(bytes=1_000_000)]))
    seconds = time.monotonic() - t0
    noise = [e.data["text"] for e in done.events if e.kind == EventKind.UNPARSED]
    assert sum(len(t) + 1 for t in noise) == 1_000_000
    assert [e.data["status"] for e in done.events if e.kind == EventKind.RESULT] == [
        ResultStatus.SUCCESS
    ]
    print(f"1 MB of output through the sandbox in {seconds:.2f}s")
