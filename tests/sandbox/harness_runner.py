"""Runs a real harness CLI in the real sandbox against the scripted model: for the adapter
tests and for capturing the recordings (`python -m tests.sandbox.record`)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from sandbox.docker_runtime import DockerRuntime
from sandbox.egress_proxy import rule_for_url
from sandbox.harness.events import HarnessEvent
from sandbox.harness.protocol import HarnessOptions, ModelAccess
from sandbox.harness.run import HarnessJob, run_harness
from sandbox.runtime import ContainerExit, ContainerSpec, LineSink, SandboxPolicy
from tests.support.model_server import RecordedRequest, ScriptedModel, ScriptSource
from tests.support.processes import bridge_gateway

# a model Codex 0.163 knows (an unknown slug adds a "model metadata not found" error item), and
# one the default price table prices
MODEL = "gpt-5.5"


@dataclass
class Outcome:
    lines: list[str]
    events: list[HarnessEvent]
    exit: ContainerExit
    requests: list[RecordedRequest]
    failures: list[str]
    workspace: Path
    first_event_seconds: float
    """From the container's start to the first unified event."""


def workspace(parent: Path) -> Path:
    ws = parent / "ws"
    ws.mkdir()
    (ws / "greeting.txt").write_text("helo\n")
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True, timeout=30)
    subprocess.run(["chown", "-R", "1000:1000", str(ws)], check=True, timeout=30)
    return ws


def run(
    name: str,
    script: ScriptSource,
    image: str,
    parent: Path,
    *,
    options: HarnessOptions | None = None,
    prompt: str = "fix the greeting in greeting.txt",
    timeout: float = 180,
) -> Outcome:
    """Run harness `name` once on a fresh workspace; the unified events go through the same
    `run_harness` as the pipeline's (so a result and a priced cost are always owed)."""
    ws = workspace(parent)
    options = options or HarnessOptions(model=None if name == "claude-code" else MODEL)
    lines: list[str] = []
    events: list[HarnessEvent] = []
    first: list[float] = []

    def on_event(event: HarnessEvent) -> None:
        if not first:
            first.append(time.monotonic())
        events.append(event)

    with ScriptedModel(script, host=bridge_gateway(), script_toolless=name == "aider") as model:
        job = HarnessJob(
            harness=name,
            prompt=prompt,
            image=image,
            workspace=ws,
            user="1000:1000",
            # As in the pipeline: the only way out is the egress proxy, to the model alone.
            policy=SandboxPolicy(
                timeout_seconds=timeout,
                idle_timeout_seconds=timeout,
                allow_hosts=(str(rule_for_url(model.base_url)),),
            ),
            options=options,
            models=ModelAccess(base_url=model.base_url, api_key=SecretStr("sk-test")),
        )
        runtime = DockerRuntime()

        def on_line(line: str) -> None:
            lines.append(line)

        # `run_harness` parses; keep the native lines too, for recordings
        class Tee:
            def run(
                self, spec: ContainerSpec, sink: LineSink, on_stderr: LineSink | None = None
            ) -> ContainerExit:
                def both(line: str) -> None:
                    on_line(line)
                    sink(line)

                return runtime.run(spec, both, on_stderr)

        t0 = time.monotonic()
        exit_ = run_harness(Tee(), job, on_event).exit
        requests, failures = model.model_requests(), model.failures
    started = t0 + exit_.started_after_seconds
    first_event = (first[0] - started) if first else float("nan")
    return Outcome(lines, events, exit_, requests, failures, ws, first_event)
