"""`ContainerRuntime` on a Docker Engine. Docker's errors become `SandboxError` here only."""

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from sandbox.errors import SandboxError
from sandbox.runtime import MANAGED_LABEL, ContainerExit, ContainerSpec, LineSink


class DockerRuntime:
    """Runs sandboxes as Docker containers under the spec's policy."""

    def __init__(self, api_timeout: float = 120.0) -> None:
        self._api_timeout = api_timeout
        try:
            self._client = docker.from_env(timeout=int(api_timeout))
            self._client.ping()
        except DockerException as exc:
            raise SandboxError(f"cannot reach the Docker engine: {exc}") from exc

    def run(self, spec: ContainerSpec, on_line: LineSink) -> ContainerExit:
        t0 = time.monotonic()
        with self._container(spec) as container:
            # The stream's socket must outlive the run; the watchdog bounds it instead.
            stream_client = docker.from_env(timeout=int(spec.policy.timeout_seconds + 60))
            try:
                raw = stream_client.api.attach(
                    str(container.id), stream=True, stdout=True, stderr=False, logs=True
                )
                container.start()
                started = time.monotonic() - t0
                watchdog = _Watchdog(
                    container, spec.policy.timeout_seconds, spec.policy.idle_timeout_seconds
                )
                with watchdog:
                    _pump(raw, on_line, watchdog)
                status = container.wait(timeout=self._api_timeout)
                container.reload()
                stderr = container.logs(stdout=False, stderr=True, tail=40)
            except DockerException as exc:
                raise SandboxError(f"sandbox run failed: {exc}") from exc
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
    def _container(self, spec: ContainerSpec) -> Iterator[Container]:
        p = spec.policy
        try:
            container = self._client.containers.create(
                spec.image,
                spec.command,
                environment=spec.env,
                working_dir=spec.workdir,
                user=spec.user,
                labels={MANAGED_LABEL: "true", **spec.labels},
                volumes={
                    str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
                    for m in spec.mounts
                },
                network=p.network,
                read_only=True,
                tmpfs={
                    "/tmp": f"rw,nosuid,nodev,size={p.tmpfs_size}",
                    spec.home: f"rw,nosuid,nodev,size={p.tmpfs_size},uid={_uid(spec)},mode=0700",
                },
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
            )
        except ImageNotFound as exc:
            raise SandboxError(
                f"sandbox image {spec.image!r} is missing: run `burndown sandbox build`"
            ) from exc
        except DockerException as exc:
            raise SandboxError(f"cannot create the sandbox container: {exc}") from exc
        try:
            yield container
        finally:
            try:
                container.remove(force=True, v=True)
            except NotFound:
                pass
            except DockerException as exc:
                raise SandboxError(f"cannot remove container {container.id}: {exc}") from exc


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
                with contextlib.suppress(DockerException):
                    self._container.kill()
                return


def _pump(raw: Iterator[bytes], on_line: LineSink, watchdog: _Watchdog) -> None:
    buf = b""
    for chunk in raw:
        watchdog.touch()
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            on_line(line.decode("utf-8", "replace"))
    if buf:
        on_line(buf.decode("utf-8", "replace"))
