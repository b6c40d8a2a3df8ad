"""A run's budget watch on the real runtime, with the events it saw kept for the test."""

from collections.abc import Callable

from sandbox.docker_runtime import DockerRuntime
from sandbox.harness.events import HarnessEvent
from sandbox.harness.prices import default_prices
from worker.budget import BudgetWatch, RunLimits


def watched(
    limits: RunLimits, runtime: DockerRuntime, run_id: str, model: str, deployment: str
) -> tuple[BudgetWatch, list[HarnessEvent], Callable[[HarnessEvent], None]]:
    """The watch (default prices), the list every event lands in, and the sink feeding both."""
    watch = BudgetWatch(
        limits,
        runtime=runtime,
        run_id=run_id,
        prices=default_prices(),
        model=model,
        deployment=deployment,
    )
    events: list[HarnessEvent] = []

    def on_event(event: HarnessEvent) -> None:
        events.append(event)
        watch(event)

    return watch, events, on_event
