"""The container runtime seam: what a sandbox run is, and the Protocol that runs it."""

from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field, field_validator

from sandbox.egress_proxy import parse_rule

MANAGED_LABEL = "org.burndown.managed"
RUN_LABEL = "org.burndown.run-id"
DEPLOYMENT_LABEL = "org.burndown.deployment"
DEFAULT_DEPLOYMENT = "burndown"  # the default queue name, which names deployments
MAX_LINE_BYTES = 1024 * 1024
"""The longest line a sandbox's output yields; the rest of a longer line is dropped (counted)."""
LOG_LIMITS = {"max-size": "10m", "max-file": "1"}
"""Docker's own log of every sandbox and proxy container stays this small, whatever it prints."""
DEADLINE_LABEL = "org.burndown.deadline"
ROLE_LABEL = "org.burndown.role"

Limit = Literal["time", "idle", "memory"]
WorkspaceMode = Literal["bind", "copy"]
"""How a sandbox gets its folders: bind mounts, or copies through the engine's API."""


class SandboxPolicy(BaseModel):
    """Limits and isolation every sandbox gets. Operators set maxima; repositories may lower.

    `allow_hosts` are the only hosts the sandbox may reach, through the egress proxy (entries
    like `api.example.com`, `host:8443`, `*.pypi.org`; no port means 443 only). Empty: no
    network at all. `egress_network` is the Docker network the proxy reaches them through.
    """

    memory: str = "4g"
    cpus: float = 2.0
    pids: int = 512
    tmpfs_size: str = "1g"
    timeout_seconds: float = 1800.0
    idle_timeout_seconds: float = 600.0
    runtime: str | None = None  # e.g. "runsc" for gVisor
    allow_hosts: tuple[str, ...] = ()
    egress_network: str = "bridge"

    @field_validator("allow_hosts")
    @classmethod
    def _valid_hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(str(parse_rule(h)) for h in hosts))


class Mount(BaseModel):
    """A host folder the container gets at `target`: bind-mounted, or copied in and back
    through the engine's API (`sandbox.workspaces`); a read-only one is never copied back."""

    source: Path
    target: str
    read_only: bool = False


class ContainerSpec(BaseModel):
    """One sandboxed command: image, argv, environment, the workspace mount, the policy.

    `labels` should carry the run id (`RUN_LABEL`) and the deployment (`DEPLOYMENT_LABEL`):
    every container and network of the run gets them, and the reaper goes by them."""

    image: str
    command: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str = "/workspace"
    home: str = "/home/agent"
    user: str = "1000:1000"
    mounts: list[Mount] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    policy: SandboxPolicy = Field(default_factory=SandboxPolicy)
    warm: bool = False
    """May start in a warm pool's sandbox (when the runtime has a pool of its shape)."""


class EgressEvent(BaseModel):
    """A connection the egress proxy refused (or could not make), as it logged it."""

    event: str
    method: str = ""
    host: str = ""
    port: int = 0
    reason: str = ""
    time: float = 0.0
    count: int | None = None  # for `suppressed`: refusals beyond what was logged


class ContainerExit(BaseModel):
    """How a sandboxed command ended."""

    exit_code: int | None
    timed_out: bool = False
    idle_timed_out: bool = False
    oom_killed: bool = False
    stderr_tail: str = ""
    started_after_seconds: float = 0.0
    warm: bool = False
    """Started in a warm pool's sandbox."""
    egress: list[EgressEvent] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit is None

    @property
    def limit(self) -> Limit | None:
        """The limit that stopped the command, if one did."""
        if self.timed_out:
            return "time"
        if self.idle_timed_out:
            return "idle"
        if self.oom_killed:
            return "memory"
        return None


LineSink = Callable[[str], None]


class ContainerRuntime(Protocol):
    """Runs one command in a fresh container and removes the container afterwards."""

    def run(
        self, spec: ContainerSpec, on_line: LineSink, on_stderr: LineSink | None = None
    ) -> ContainerExit:
        """Run `spec`, calling `on_line` for each stdout line as it arrives (and `on_stderr`
        for each stderr line, if given); never leaves a container or network behind. Raises
        `SandboxError` when the runtime itself fails or refuses the policy."""
        ...

    def stop_run(self, run_id: str, deployment: str) -> int:
        """Kill every running sandbox labelled with `run_id` of `deployment` now (its `run`
        calls then return); the number killed. Other deployments' runs of the same id are
        never touched. Used to cancel a run and to stop a run given up for lost."""
        ...
