"""A harness run recorded in the store: its events as they stream, the egress proxy's
refusals, and the stage timings. The run itself is `sandbox.harness.run`."""

import time

from sandbox.harness.events import HarnessEvent
from sandbox.harness.prices import PriceTable
from sandbox.harness.run import HarnessJob, HarnessRun, run_harness
from sandbox.runtime import ContainerRuntime
from worker.events import EventRecorder
from worker.store.models import EventSource


def run_recorded(
    runtime: ContainerRuntime,
    job: HarnessJob,
    rec: EventRecorder,
    *,
    source: EventSource = EventSource.HARNESS,
    prices: PriceTable | None = None,
) -> HarnessRun:
    """Run `job` in a fresh sandbox; its events are recorded as they stream (as `source`),
    and so is every connection the egress proxy refused."""
    t0 = time.monotonic()
    first = f"{source}_first_event" if source != EventSource.HARNESS else "first_event"
    seen = [False]

    def on_event(event: HarnessEvent) -> None:
        if not seen[0]:
            seen[0] = True
            rec.stage(first, time.monotonic() - t0)
        rec.harness(event, source=source)

    done = run_harness(runtime, job, on_event, prices=prices)
    for e in done.exit.egress:
        rec.sandbox(f"egress_{e.event}", e.model_dump(exclude_none=True))
    if source == EventSource.HARNESS:
        rec.stage("container_start", done.exit.started_after_seconds, warm=done.exit.warm)
    rec.stage(source, time.monotonic() - t0, exit_code=done.exit.exit_code)
    return done
