"""One harness run in one sandbox: the container spec, the live events, what is owed at the end.

Shared by the pipeline and `burndown harness run`. Options a harness cannot honour are refused
before anything starts; a result is always reported (the harness's own, or the time limit, or an
error); a cost the harness did not report is priced from the tokens (or left unknown).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.harness.base import Harness, HarnessOptions, ModelAccess, check_options
from sandbox.harness.events import EventKind, HarnessEvent, Usage
from sandbox.harness.prices import PriceTable, default_prices
from sandbox.runtime import ContainerExit, ContainerRuntime, ContainerSpec, Mount, SandboxPolicy

HOME = "/home/agent"
WORKDIR = "/workspace"
EventSink = Callable[[HarnessEvent], None]


@dataclass(frozen=True)
class SandboxTarget:
    """Where a harness runs: the image, the host tree to mount, the user, the limits, labels."""

    image: str
    workspace: Path
    user: str
    policy: SandboxPolicy
    labels: dict[str, str] = field(default_factory=dict)
    read_only: bool = False


def sandbox_spec(
    harness: Harness,
    command: list[str],
    options: HarnessOptions,
    access: ModelAccess,
    target: SandboxTarget,
) -> ContainerSpec:
    """The sandbox a harness gets (and `burndown sandbox run` too): the target's policy and
    tree, and an environment of the harness's needs only (its model endpoint and key), never
    a GitHub token or the store's or broker's URL."""
    policy = target.policy
    if options.time_limit_seconds:
        limit = min(policy.timeout_seconds, options.time_limit_seconds)
        policy = policy.model_copy(update={"timeout_seconds": limit})
    return ContainerSpec(
        image=target.image,
        command=command,
        env={**harness.environment(access, HOME), **options.extra_env},
        workdir=WORKDIR,
        home=HOME,
        user=target.user,
        mounts=[Mount(source=target.workspace, target=WORKDIR, read_only=target.read_only)],
        labels=target.labels,
        policy=policy,
    )


def harness_spec(
    harness: Harness,
    prompt: str,
    options: HarnessOptions,
    access: ModelAccess,
    target: SandboxTarget,
) -> ContainerSpec:
    """The container that runs `harness` on `prompt`; `HarnessError` for a refused option."""
    check_options(harness, options)
    command = harness.command(prompt, options, access)  # first: adapters note files for env
    return sandbox_spec(harness, command, options, access, target)


class _Tally:
    """What the stream said about money: the last usage, whether a cost came, the model."""

    def __init__(self, model: str | None) -> None:
        self.model = model
        self.usage: Usage | None = None
        self.cost_seen = False

    def see(self, event: HarnessEvent) -> None:
        if event.kind == EventKind.USAGE:
            self.usage = Usage.model_validate(event.data)
        elif event.kind == EventKind.COST:
            self.cost_seen = True
        elif event.kind == EventKind.SESSION_START and not self.model:
            self.model = event.data.get("model")


def run_harness(
    runtime: ContainerRuntime,
    harness: Harness,
    spec: ContainerSpec,
    on_event: EventSink,
    *,
    model: str | None,
    prices: PriceTable | None = None,
) -> ContainerExit:
    """Run `spec`, handing each unified event to `on_event` as it streams, then the events
    owed at the end: a result if the harness gave none, and a cost priced from the tokens if
    it reported none (none at all when the model's price is unknown)."""
    tally = _Tally(model)

    def emit(event: HarnessEvent) -> None:
        tally.see(event)
        on_event(event)

    def on_line(line: str) -> None:
        for event in harness.parse_line(line):
            emit(event)

    exit_ = runtime.run(spec, on_line)
    for event in harness.finish(exit_.exit_code, exit_.timed_out):
        emit(event)
    if not tally.cost_seen and tally.usage is not None:
        usd = (prices or default_prices()).cost_usd(tally.model, tally.usage)
        if usd is not None:
            emit(
                HarnessEvent(
                    kind=EventKind.COST,
                    data={"usd": usd, "source": "price_table", "model": tally.model},
                )
            )
    return exit_
