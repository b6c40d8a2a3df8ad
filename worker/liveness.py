"""A running run's deadline and heartbeat.

`Deadline` is set when the run claims its ticket; every stage (clone, agent, verification,
review, push) draws its time from what is left. `RunGuard` beats for the run while it goes on;
when someone asks the run to stop (or the reconciler already gave it up), it kills the run's
sandboxes at once, so the step in progress ends within seconds and the pipeline stops there.
"""

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine

from sandbox.errors import BurndownError
from sandbox.runtime import DEFAULT_DEPLOYMENT, ContainerRuntime
from worker.logs import get_logger
from worker.store import liveness
from worker.store.models import CancelRequest

log = get_logger(__name__)

AGENT_SHARE = 0.7
"""The share of the time left that the agent may use; the rest is kept for verification,
review and publishing."""


@dataclass(frozen=True)
class Deadline:
    """The monotonic time by which a run must be over."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> "Deadline":
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def cap(self, seconds: float, share: float = 1.0) -> float:
        """`seconds`, at most `share` of the time left (and never below one second, so a
        step past the deadline fails fast instead of running unbounded)."""
        return max(1.0, min(seconds, self.remaining() * share))


@dataclass
class RunGuard:
    """Beats for one run every `interval` seconds in a thread; stops its sandboxes when the
    run is asked to stop or was closed by the reconciler. A context manager."""

    engine: Engine
    runtime: ContainerRuntime
    run_id: int
    interval: float = 5.0
    deployment: str = DEFAULT_DEPLOYMENT
    """The deployment whose sandboxes of this run are stopped (others share run ids)."""
    request: CancelRequest | None = None
    folder: Path | None = None
    """The run's folder on the host (checkout, verification trees), whose size is watched."""
    max_bytes: int | None = None
    over_disk: bool = False
    """The run's folder grew past `max_bytes`: its sandboxes were stopped."""
    lost: bool = False
    """The reconciler closed the run: its worker was taken for dead. Nothing more is published."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "RunGuard":
        self._thread = threading.Thread(target=self._loop, name=f"beat-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)

    @property
    def stopping(self) -> bool:
        return self.request is not None or self.lost or self.over_disk

    def check(self) -> None:
        """Beat once now (between steps), so a request is seen without waiting."""
        self._beat()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat()

    def _beat(self) -> None:
        if not self.over_disk and self._too_big():
            self.over_disk = True
            self._stop_sandboxes()
        try:
            still_open, request = liveness.beat(self.engine, self.run_id)
        except BurndownError as exc:  # the store is away for a moment: beat again later
            log.warning("heartbeat failed", run_id=self.run_id, error=str(exc))
            return
        newly = (request is not None and self.request is None) or (not still_open and not self.lost)
        self.request = self.request or request
        self.lost = self.lost or not still_open
        if newly:
            self._stop_sandboxes()

    def _too_big(self) -> bool:
        if self.folder is None or self.max_bytes is None:
            return False
        return folder_bytes(self.folder, stop_at=self.max_bytes) > self.max_bytes

    def _stop_sandboxes(self) -> None:
        why = "lost" if self.lost else "disk" if self.over_disk else str(self.request)
        try:
            killed = self.runtime.stop_run(str(self.run_id), self.deployment)
            log.info("stopped the run's sandboxes", run_id=self.run_id, why=why, killed=killed)
        except BurndownError as exc:
            log.warning("could not stop the run's sandboxes", run_id=self.run_id, error=str(exc))


def folder_bytes(folder: Path, stop_at: int) -> int:
    """The bytes the files under `folder` take (links not followed), counted until `stop_at`
    is passed."""
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue  # removed meanwhile
            if total > stop_at:
                return total
    return total
