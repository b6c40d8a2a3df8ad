"""The one way a harness runs in a sandbox, for the pipeline's agent and reviewer, `burndown
harness run`, `burndown sandbox run`, the tests and the benches alike.

A `HarnessJob` says what to run (harness, prompt, options), with which model endpoints, on
which tree, in which image, under which policy, for which run and deployment; from it come the
harness's invocation, the model access, the sandbox target and the container spec. Options a
harness cannot honour are refused before anything starts; a result is always reported (the
harness's own, or the time limit, or an error); a cost the harness did not report is priced from
the tokens (or left unknown).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.harness.access import ModelEndpoints
from sandbox.harness.events import (
    EventKind,
    HarnessEvent,
    ResultStatus,
    Usage,
    cost_of,
    usage_of,
)
from sandbox.harness.prices import PriceTable, default_prices
from sandbox.harness.protocol import (
    Harness,
    HarnessInvocation,
    HarnessOptions,
    ModelAccess,
    check_options,
)
from sandbox.harness.registry import get_harness
from sandbox.runtime import (
    DEPLOYMENT_LABEL,
    RUN_LABEL,
    ContainerExit,
    ContainerRuntime,
    ContainerSpec,
    Mount,
    SandboxPolicy,
)

#: The image's non-root user.
SANDBOX_UID = 1000
HOME = "/home/agent"
WORKDIR = "/workspace"
EventSink = Callable[[HarnessEvent], None]


def sandbox_user() -> str:
    """The sandbox's uid:gid: the image's non-root user when we are root, else our own ids
    (so the checkout we own stays writable inside)."""
    if os.geteuid() == 0:
        return f"{SANDBOX_UID}:{SANDBOX_UID}"
    return f"{os.getuid()}:{os.getgid()}"


@dataclass(frozen=True)
class SandboxTarget:
    """Where a harness runs: the image, the host tree to mount, the user, the limits, labels."""

    image: str
    workspace: Path
    user: str
    policy: SandboxPolicy
    labels: dict[str, str] = field(default_factory=dict)
    read_only: bool = False
    warm: bool = False


@dataclass(frozen=True)
class HarnessJob:
    """One harness run to make. `harness` is a name (a new instance per run) or an instance
    (used for this one run); `models` the operator's endpoints (each harness gets the one it
    speaks) or one fixed access; `user` defaults to `sandbox_user()`; `run_id` and
    `deployment` label every resource of the run, for the reaper."""

    harness: str | Harness
    prompt: str
    image: str
    workspace: Path
    policy: SandboxPolicy
    options: HarnessOptions = field(default_factory=HarnessOptions)
    models: ModelEndpoints | ModelAccess = field(default_factory=ModelEndpoints)
    run_id: str | None = None
    deployment: str | None = None
    user: str | None = None
    read_only: bool = False
    warm: bool = False
    """May start in a warm pool's sandbox (the agent's; not verification's)."""

    def target(self) -> SandboxTarget:
        """The sandbox this job runs in."""
        labels = {RUN_LABEL: self.run_id} if self.run_id else {}
        if self.deployment:
            labels[DEPLOYMENT_LABEL] = self.deployment
        return SandboxTarget(
            image=self.image,
            workspace=self.workspace,
            user=self.user or sandbox_user(),
            policy=self.policy,
            labels=labels,
            read_only=self.read_only,
            warm=self.warm,
        )

    def access_for(self, harness: Harness) -> ModelAccess:
        """The model endpoint and key `harness` gets."""
        if isinstance(self.models, ModelAccess):
            return self.models
        return self.models.access_for(harness)


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

    @property
    def succeeded(self) -> bool:
        """The harness reported success (whatever its exit code)."""
        results = [e for e in self.events if e.kind == EventKind.RESULT]
        return bool(results) and results[-1].data.get("status") == ResultStatus.SUCCESS

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


def harness_of(job: HarnessJob) -> Harness:
    """The harness instance of one run of `job`."""
    return get_harness(job.harness) if isinstance(job.harness, str) else job.harness


def harness_spec(job: HarnessJob, harness: Harness) -> ContainerSpec:
    """The container that runs `harness` on the job's prompt; `HarnessError` for an option it
    refuses or cannot start with."""
    check_options(harness, job.options)
    invocation = harness.plan(job.prompt, job.options, job.access_for(harness), HOME)
    return container_spec(invocation, job.options, job.target())


def command_spec(job: HarnessJob, command: list[str]) -> ContainerSpec:
    """`command` in the sandbox the job's harness would get (its environment, the policy,
    the tree): what `burndown sandbox run` runs."""
    harness = harness_of(job)
    invocation = harness.plan(job.prompt, job.options, job.access_for(harness), HOME)
    return container_spec(
        invocation.model_copy(update={"argv": command}), job.options, job.target()
    )


def container_spec(
    invocation: HarnessInvocation, options: HarnessOptions, target: SandboxTarget
) -> ContainerSpec:
    """The sandbox of an invocation: the target's policy (its clock lowered, never raised, by
    the time-limit option) and tree, and the invocation's environment plus the extra one; never
    a GitHub token or the store's or broker's URL."""
    policy = target.policy
    if options.time_limit_seconds:
        limit = min(policy.timeout_seconds, options.time_limit_seconds)
        policy = policy.model_copy(update={"timeout_seconds": limit})
    return ContainerSpec(
        image=target.image,
        command=invocation.argv,
        env={**invocation.env, **options.extra_env},
        workdir=WORKDIR,
        home=HOME,
        user=target.user,
        mounts=[Mount(source=target.workspace, target=WORKDIR, read_only=target.read_only)],
        labels=target.labels,
        policy=policy,
        warm=target.warm,
    )


def run_harness(
    runtime: ContainerRuntime,
    job: HarnessJob,
    on_event: EventSink | None = None,
    *,
    prices: PriceTable | None = None,
) -> HarnessRun:
    """Run `job` in a fresh sandbox, handing each unified event to `on_event` as it streams,
    then the events owed at the end: a result if the harness gave none, and a cost priced from
    the tokens if it reported none (none at all when the model's price is unknown)."""
    harness = harness_of(job)
    spec = harness_spec(job, harness)
    events: list[HarnessEvent] = []
    tally = _Tally(job.options.model)

    def emit(event: HarnessEvent) -> None:
        if event.kind == EventKind.SESSION_START and not event.data.get("model"):
            # the model the run asked for, where the harness does not say (Codex, Aider): what
            # a budget watch prices the stream's usage with
            event.data["model"] = job.options.model
        tally.see(event)
        events.append(event)
        if on_event is not None:
            on_event(event)

    def on_line(line: str) -> None:
        for event in harness.parse_line(line):
            emit(event)

    exit_ = runtime.run(spec, on_line)
    for event in harness.finish(exit_.exit_code, exit_.timed_out):
        emit(event)
    owed = tally.priced_cost(prices or default_prices())
    if owed is not None:
        emit(owed)
    return HarnessRun(exit=exit_, events=events)


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

    def priced_cost(self, prices: PriceTable) -> HarnessEvent | None:
        """The cost event owed when the harness reported tokens but no cost."""
        if self.cost_seen or self.usage is None:
            return None
        usd = prices.cost_usd(self.model, self.usage)
        if usd is None:
            return None
        return HarnessEvent(
            kind=EventKind.COST, data={"usd": usd, "source": "price_table", "model": self.model}
        )
