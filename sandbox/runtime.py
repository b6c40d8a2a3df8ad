"""The container runtime seam: what a sandbox run is, and the Protocol that runs it."""

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

RUN_LABEL = "org.burndown.run-id"
MANAGED_LABEL = "org.burndown.managed"


class SandboxPolicy(BaseModel):
    """Limits and isolation every sandbox gets. Operators set maxima; repositories may lower."""

    memory: str = "4g"
    cpus: float = 2.0
    pids: int = 512
    tmpfs_size: str = "1g"
    network: str = "bridge"
    timeout_seconds: float = 1800.0
    idle_timeout_seconds: float = 600.0
    runtime: str | None = None  # e.g. "runsc" for gVisor


class Mount(BaseModel):
    """A host folder bound into the container."""

    source: Path
    target: str
    read_only: bool = False


class ContainerSpec(BaseModel):
    """One sandboxed command: image, argv, environment, the workspace mount, the policy."""

    image: str
    command: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str = "/workspace"
    home: str = "/home/agent"
    user: str = "1000:1000"
    mounts: list[Mount] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    policy: SandboxPolicy = Field(default_factory=SandboxPolicy)


class ContainerExit(BaseModel):
    """How a sandboxed command ended."""

    exit_code: int | None
    timed_out: bool = False
    idle_timed_out: bool = False
    oom_killed: bool = False
    stderr_tail: str = ""
    started_after_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.idle_timed_out)


LineSink = Callable[[str], None]


class ContainerRuntime(Protocol):
    """Runs one command in a fresh container and removes the container afterwards."""

    def run(self, spec: ContainerSpec, on_line: LineSink) -> ContainerExit:
        """Run `spec`, calling `on_line` for each stdout line as it arrives; never leaves the
        container behind. Raises `SandboxError` when the runtime itself fails."""
        ...
