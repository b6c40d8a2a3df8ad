"""`ContainerRuntime` on a Docker Engine. Docker's errors become `SandboxError` through
`sandbox.docker_client`."""

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import Any

from docker.models.containers import Container
from docker.types import LogConfig

from sandbox.attach import Chunk, attach
from sandbox.docker_client import (
    best_effort,
    docker_client,
    remove_resource,
    removing,
    translate_docker_errors,
)
from sandbox.egress import Egress, egress
from sandbox.errors import SandboxError
from sandbox.reaper import ReapReport, RunState, reap, unknown_runs
from sandbox.runtime import (
    DEADLINE_LABEL,
    DEFAULT_DEPLOYMENT,
    DEPLOYMENT_LABEL,
    LOG_LIMITS,
    MANAGED_LABEL,
    MAX_LINE_BYTES,
    ROLE_LABEL,
    RUN_LABEL,
    ContainerExit,
    ContainerSpec,
    EgressEvent,
    LineSink,
    WorkspaceMode,
)
from sandbox.warm_pool import PoolSettings, Slot, hand_job, move_entries, taken_slots
from sandbox.workspaces import DEFAULT_MAX_BYTES, workspaces

# Time a run's resources may outlive its wall-clock limit before the reaper takes them.
DEADLINE_MARGIN_SECONDS = 300


class DockerRuntime:
    """Runs sandboxes as Docker containers under the spec's policy: on a network of their own
    whose only way out is the egress proxy, or on no network when nothing is allowed.

    `workspace` says how the spec's folders reach the container: `bind` mounts for an engine
    on this machine, `copy` through the Docker API for one elsewhere (see `sandbox.workspaces`;
    `workspace_max_bytes` bounds what a sandbox may hand back). `pool`, when sized, keeps
    started sandboxes a run takes (bind mode only: a slot's workspace is a host folder)."""

    def __init__(
        self,
        api_timeout: float = 120.0,
        *,
        workspace: WorkspaceMode = "bind",
        workspace_max_bytes: int = DEFAULT_MAX_BYTES,
        pool: PoolSettings | None = None,
    ) -> None:
        self._api_timeout = api_timeout
        self._workspaces = workspaces(workspace, workspace_max_bytes)
        self._runtimes: set[str] | None = None
        self._client = docker_client(api_timeout)
        warm = pool is not None and pool.size > 0 and workspace == "bind"
        self.pool = pool.make(self._client) if warm and pool is not None else None

    def run(
        self, spec: ContainerSpec, on_line: LineSink, on_stderr: LineSink | None = None
    ) -> ContainerExit:
        t0 = time.monotonic()
        self._check_runtime(spec.policy.runtime)
        labels = {
            RUN_LABEL: f"adhoc-{uuid.uuid4().hex[:12]}",
            DEPLOYMENT_LABEL: DEFAULT_DEPLOYMENT,  # so that some reaper can find it
            **spec.labels,
            DEADLINE_LABEL: str(
                int(time.time() + spec.policy.timeout_seconds + DEADLINE_MARGIN_SECONDS)
            ),
        }
        if self.pool is not None and spec.warm:
            slot = self.pool.take(spec)
            if slot is not None:
                return self._run_in_slot(slot, spec, t0, on_line, on_stderr)
        gate: Egress | None = None
        with ExitStack() as stack:
            if spec.policy.allow_hosts:
                gate = stack.enter_context(
                    egress(self._client, image=spec.image, policy=spec.policy, labels=labels)
                )
            container = stack.enter_context(self._container(spec, labels, gate))
            if gate is not None:
                gate.wait_ready()  # the proxy booted while the sandbox was being created
            exit_ = self._attach_and_wait(container, spec, t0, on_line, on_stderr)
            self._after_exit(container, spec, exit_)
            self._workspaces.take(container, spec)
        if gate is not None:
            exit_.egress = gate.events
        return exit_

    def _run_in_slot(
        self,
        slot: Slot,
        spec: ContainerSpec,
        t0: float,
        on_line: LineSink,
        on_stderr: LineSink | None,
    ) -> ContainerExit:
        """`spec` in a warm pool's slot: the tree moved in, the job handed to its launcher."""
        assert self.pool is not None
        workspace = spec.mounts[0].source
        events: list[EgressEvent] = []
        move_entries(workspace, slot.workspace)
        try:
            exit_ = self._attach_and_wait(
                slot.container, spec, t0, on_line, on_stderr, start=partial(hand_job, slot, spec)
            )
        finally:
            events = self.pool.release(slot, workspace)
        exit_.egress, exit_.warm = events, True
        return exit_

    def reap(
        self, deployment: str, run_state: RunState = unknown_runs, grace_seconds: float = 60.0
    ) -> ReapReport:
        """Remove what dead runs of `deployment` left behind (see `sandbox.reaper`)."""
        return reap(
            self._client, deployment=deployment, run_state=run_state, grace_seconds=grace_seconds
        )

    def stop_run(self, run_id: str, deployment: str) -> int:
        # Run ids are unique only within one deployment's store: never kill another
        # deployment's sandboxes on the same Docker host.
        labels = [f"{RUN_LABEL}={run_id}", f"{DEPLOYMENT_LABEL}={deployment}"]
        with translate_docker_errors(f"cannot stop the sandboxes of run {run_id}"):
            found = self._client.containers.list(filters={"label": labels})
            found += taken_slots(self._client, run_id, deployment)
        # One that ended by itself meanwhile is gone already: that is fine.
        return sum(remove_resource(c.kill, f"sandbox {c.name}") for c in found)

    def _check_runtime(self, runtime: str | None) -> None:
        if runtime is None:
            return
        if self._runtimes is None:
            with translate_docker_errors("cannot ask Docker for its runtimes"):
                self._runtimes = set(self._client.info().get("Runtimes") or {})
        if runtime not in self._runtimes:
            hint = " (gVisor: install runsc and register it)" if runtime == "runsc" else ""
            raise SandboxError(
                f"the sandbox runtime {runtime!r} is enabled but Docker has no such runtime"
                f"{hint}; Docker has: {', '.join(sorted(self._runtimes)) or 'none'}"
            )

    def _attach_and_wait(
        self,
        container: Container,
        spec: ContainerSpec,
        t0: float,
        on_line: LineSink,
        on_stderr: LineSink | None,
        start: Callable[[], None] | None = None,
    ) -> ContainerExit:
        # The stream's socket must outlive the run; the watchdog bounds it instead.
        stream_client = docker_client(spec.policy.timeout_seconds + 60, ping=False)
        try:
            with translate_docker_errors("cannot start the sandbox"):
                raw = attach(
                    stream_client,
                    str(container.id),
                    stdout=True,
                    stderr=on_stderr is not None,
                    logs=True,
                )
                (start or container.start)()
            started = time.monotonic() - t0
            watchdog = _Watchdog(
                container, spec.policy.timeout_seconds, spec.policy.idle_timeout_seconds
            )
            with watchdog:
                _pump(_translated(raw), on_line, on_stderr, watchdog)
            with translate_docker_errors("sandbox run failed"):
                status = container.wait(timeout=self._api_timeout)
                container.reload()
                stderr = container.logs(stdout=False, stderr=True, tail=40)
        finally:
            stream_client.close()
        state: dict[str, Any] = container.attrs.get("State", {})
        return ContainerExit(
            exit_code=None if watchdog.fired else int(status.get("StatusCode", -1)),
            timed_out=watchdog.fired == "time",
            idle_timed_out=watchdog.fired == "idle",
            oom_killed=bool(state.get("OOMKilled")),
            stderr_tail=stderr.decode("utf-8", "replace"),
            started_after_seconds=started,
        )

    @contextmanager
    def _container(
        self, spec: ContainerSpec, labels: dict[str, str], gate: Egress | None
    ) -> Iterator[Container]:
        p = spec.policy
        network: dict[str, Any] = {"network_mode": "none"}
        env = dict(spec.env)
        if gate is not None:
            # DNS goes to the proxy's address, where nothing answers: no name leaves.
            network = {"network": gate.network_id, "dns": [gate.proxy_ip]}
            env |= gate.env()
        with translate_docker_errors(
            "cannot create the sandbox container",
            image_missing=f"sandbox image {spec.image!r} is missing: run `burndown sandbox build`",
        ):
            container = self._client.containers.create(
                spec.image,
                spec.command,
                environment=env,
                working_dir=spec.workdir,
                user=spec.user,
                labels={MANAGED_LABEL: "true", **labels, ROLE_LABEL: "sandbox"},
                **self._workspaces.create_args(spec),
                **self._filesystem(spec),
                cap_drop=["ALL"],
                security_opt=["no-new-privileges:true"],
                mem_limit=p.memory,
                memswap_limit=p.memory,
                nano_cpus=int(p.cpus * 1e9),
                pids_limit=p.pids,
                runtime=p.runtime,
                stdin_open=False,
                tty=False,
                detach=True,
                log_config=LogConfig(type="json-file", config=LOG_LIMITS),
                **network,
            )
        remove = partial(container.remove, force=True, v=True)
        with removing(remove, f"container {container.id}"):
            self._workspaces.put(container, spec)
            yield container

    def _filesystem(self, spec: ContainerSpec) -> dict[str, Any]:
        """A read-only root, with tmpfs for `/tmp` and the home folder. `/tmp` allows running
        what is built there (Docker's default is `noexec`), as `go test` and `cargo test` do
        with their test binaries; the writable checkout allows it anyway, so `noexec` there
        kept nothing out."""
        size = spec.policy.tmpfs_size
        return {
            "read_only": True,
            "tmpfs": {
                "/tmp": f"rw,exec,nosuid,nodev,size={size}",
                spec.home: f"rw,nosuid,nodev,size={size},uid={_uid(spec)},mode=0700",
            },
        }

    def _after_exit(self, container: Container, spec: ContainerSpec, exit_: ContainerExit) -> None:
        """Called when the command has ended, before the container is removed; nothing here."""


def _uid(spec: ContainerSpec) -> str:
    return spec.user.split(":", 1)[0]


class _Watchdog:
    """Kills the container at the wall-clock limit or after too long without output."""

    def __init__(self, container: Container, limit: float, idle: float) -> None:
        self._container, self._limit, self._idle = container, limit, idle
        self._start = self._last = time.monotonic()
        self._stop = threading.Event()
        self.fired: str | None = None
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def touch(self) -> None:
        self._last = time.monotonic()

    def __enter__(self) -> "_Watchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            if now - self._start > self._limit:
                self.fired = "time"
            elif now - self._last > self._idle:
                self.fired = "idle"
            if self.fired:
                # Already gone is fine: the stream ends either way.
                best_effort(self._container.kill, "killing the sandbox", None)
                return


class _Lines:
    """Splits a byte stream into lines for a sink, in time linear in the stream: a line is
    kept as its parts until its newline arrives, and a line longer than `MAX_LINE_BYTES` is cut
    there (the rest of it is dropped and counted in the marker)."""

    def __init__(self, sink: LineSink | None, limit: int = MAX_LINE_BYTES) -> None:
        self._sink, self._limit = sink, limit
        self._parts: list[bytes] = []
        self._size = 0
        self._dropped = 0

    def feed(self, chunk: bytes | None) -> None:
        if not chunk or self._sink is None:
            return
        *ends, rest = chunk.split(b"\n")
        for end in ends:
            self._take(end)
            self._emit()
        self._take(rest)

    def _take(self, part: bytes) -> None:
        room = self._limit - self._size
        if room > 0 and part:
            self._parts.append(part[:room])
            self._size += min(len(part), room)
        self._dropped += max(0, len(part) - max(room, 0))

    def _emit(self) -> None:
        assert self._sink is not None
        line = b"".join(self._parts).decode("utf-8", "replace")
        if self._dropped:
            line += f" [... {self._dropped} more bytes of this line dropped]"
        self._parts, self._size, self._dropped = [], 0, 0
        self._sink(line)

    def close(self) -> None:
        if (self._size or self._dropped) and self._sink is not None:
            self._emit()


def _translated(raw: Iterable[Chunk]) -> Iterator[Chunk]:
    """The attached stream, its transport errors translated; the sinks' own errors are not."""
    chunks = iter(raw)
    while True:
        with translate_docker_errors("reading the sandbox's output failed"):
            chunk = next(chunks, None)
        if chunk is None:
            return
        yield chunk


def _pump(
    raw: Iterator[Chunk],
    on_line: LineSink,
    on_stderr: LineSink | None,
    watchdog: _Watchdog,
) -> None:
    out, err = _Lines(on_line), _Lines(on_stderr)
    for stdout_chunk, stderr_chunk in raw:
        watchdog.touch()
        out.feed(stdout_chunk)
        err.feed(stderr_chunk)
    out.close()
    err.close()
