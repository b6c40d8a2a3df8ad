"""Running a harness on a tree in a sandbox, for the agent and for the reviewer alike."""

import time
from dataclasses import dataclass

from sandbox.harness.base import Harness, HarnessOptions, ModelAccess
from sandbox.harness.events import EventKind, HarnessEvent, ResultStatus, Usage, cost_of, usage_of
from sandbox.harness.prices import PriceTable
from sandbox.runtime import ContainerExit, ContainerRuntime
from worker import harness_run
from worker.events import EventRecorder
from worker.harness_run import SandboxTarget


@dataclass(frozen=True)
class HarnessRun:
    """What a harness did: how its container ended and what it said."""

    exit: ContainerExit
    events: list[HarnessEvent]

    @property
    def usage(self) -> Usage | None:
        return usage_of(self.events)

    @property
    def cost(self) -> float | None:
        return cost_of(self.events)

    @property
    def final_text(self) -> str:
        texts = [str(e.data.get("text", "")) for e in self.events if e.kind == EventKind.RESULT]
        return texts[-1].strip() if texts else ""

    def problem(self) -> str | None:
        """Why this run cannot be trusted to have finished its work, or None."""
        if self.exit.timed_out:
            return "the agent hit the run's time limit and was stopped"
        if self.exit.idle_timed_out:
            return "the agent printed nothing for too long and was stopped"
        if self.exit.oom_killed:
            return "the agent ran out of memory"
        results = [e for e in self.events if e.kind == EventKind.RESULT]
        if not results:
            tail = self.exit.stderr_tail.strip()[-500:]
            return f"the harness exited with code {self.exit.exit_code} without a result: {tail}"
        status = results[-1].data.get("status")
        if status != ResultStatus.SUCCESS:
            return f"the harness ended with status {status}: {results[-1].data.get('text', '')}"
        if self.exit.exit_code != 0:
            return f"the harness exited with code {self.exit.exit_code}"
        return None


def run_harness(
    runtime: ContainerRuntime,
    harness: Harness,
    *,
    prompt: str,
    options: HarnessOptions,
    access: ModelAccess,
    target: SandboxTarget,
    rec: EventRecorder,
    source: str = "harness",
    prices: PriceTable | None = None,
) -> HarnessRun:
    """Run `harness` on `prompt` in a fresh sandbox; its events are recorded as they stream,
    and so is every connection the egress proxy refused."""
    spec = harness_run.harness_spec(harness, prompt, options, access, target)
    t0 = time.monotonic()
    events: list[HarnessEvent] = []

    def on_event(event: HarnessEvent) -> None:
        if not events:
            rec.stage(
                f"{source}_first_event" if source != "harness" else "first_event",
                time.monotonic() - t0,
            )
        events.append(event)
        rec.harness(event, source=source)

    exit_ = harness_run.run_harness(
        runtime, harness, spec, on_event, model=options.model, prices=prices
    )
    for e in exit_.egress:
        rec.sandbox(f"egress_{e.event}", e.model_dump(exclude_none=True))
    if source == "harness":
        rec.stage("container_start", exit_.started_after_seconds)
    rec.stage(source, time.monotonic() - t0, exit_code=exit_.exit_code)
    return HarnessRun(exit=exit_, events=events)
