"""The reconciler: what lost messages and dead workers left, found and settled.

- A delivery never handled is sent again after a wait that doubles each time; after
  `max_delivery_attempts` it becomes a dead letter, with its reason.
- A queued ticket no worker claimed is sent again with the same growing waits (claiming is
  atomic, so an extra message is harmless); waiting alone never makes it a dead letter.
- A run whose worker stopped beating is closed as failed, its sandboxes are killed and its
  workspace removed, the issue hears it, and the ticket is queued again (a dead letter after
  `max_run_attempts` lost runs).
"""

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from sandbox.errors import BurndownError
from sandbox.runtime import DEFAULT_DEPLOYMENT, ContainerRuntime
from worker import texts
from worker.github.protocol import GitHubClient
from worker.logs import get_logger
from worker.store import liveness
from worker.store.models import OutcomeKind, TicketStatus
from worker.store.repo import RunResult, get_ticket, run_is_live

log = get_logger(__name__)
SendFn = Callable[[str, object], object]


@dataclass(frozen=True)
class ReconcilePolicy:
    """How patient the reconciler is."""

    first_wait: float
    """Seconds before a message is first sent again (the reconcile interval)."""
    max_wait: float
    heartbeat_timeout: float
    max_run_attempts: int
    max_delivery_attempts: int
    public_url: str


@dataclass
class Reconciler:
    """One deployment's reconciler; `run` is one pass, safe to run twice at once."""

    engine: Engine
    send: SendFn
    intake_task: str
    run_task: str
    policy: ReconcilePolicy
    runtime: ContainerRuntime | None = None
    github: GitHubClient | None = None
    workspaces: Path | None = None
    deployment: str = DEFAULT_DEPLOYMENT

    def run(self, now: datetime) -> dict[str, int]:
        p = self.policy
        sent, dead = liveness.due_deliveries(
            self.engine,
            now=now,
            first_wait=p.first_wait,
            cap=p.max_wait,
            max_attempts=p.max_delivery_attempts,
        )
        for d in sent:
            self.send(self.intake_task, d)
        queued = liveness.due_tickets(self.engine, now=now, first_wait=p.first_wait, cap=p.max_wait)
        for t in queued:
            self.send(self.run_task, t)
        lost = liveness.lost_runs(
            self.engine, silent_since=now - timedelta(seconds=p.heartbeat_timeout), now=now
        )
        for run_id in lost:
            self._close_lost(run_id)
        swept = self._sweep_workspaces()
        counts = {
            "deliveries": len(sent),
            "dead_deliveries": len(dead),
            "queued": len(queued),
            "lost_runs": len(lost),
            "workspaces_swept": swept,
        }
        if any(counts.values()):
            log.info("reconciled", **counts)
        return counts

    def _close_lost(self, run_id: int) -> None:
        closed = liveness.close_lost_run(
            self.engine,
            run_id,
            RunResult(outcome=OutcomeKind.FAILED, detail="the worker running this was lost"),
            max_attempts=self.policy.max_run_attempts,
            reason=f"its runs were lost {self.policy.max_run_attempts} times",
        )
        if closed is None:  # its worker finished it meanwhile
            return
        ticket_id, status = closed
        if self.runtime is not None:
            try:
                self.runtime.stop_run(str(run_id), self.deployment)
            except BurndownError as exc:
                log.warning("could not stop a lost run's sandboxes", run_id=run_id, error=str(exc))
        if status == TicketStatus.QUEUED:
            self.send(self.run_task, ticket_id)
        ticket = get_ticket(self.engine, ticket_id)
        if self.github is not None and ticket is not None:
            url = f"{self.policy.public_url.rstrip('/')}/runs/{run_id}"
            body = texts.run_lost(url, requeued=status == TicketStatus.QUEUED)
            try:
                self.github.comment(ticket.repo, ticket.number, body, key=f"lost-{run_id}")
            except BurndownError as exc:
                log.warning("could not tell the issue of a lost run", error=str(exc))

    def _sweep_workspaces(self) -> int:
        """Remove the workspaces of runs that are over (a killed worker leaves its own)."""
        if self.workspaces is None or not self.workspaces.is_dir():
            return 0
        swept = 0
        for d in self.workspaces.glob("run-*"):
            run_id = d.name.removeprefix("run-")
            if run_id.isdigit() and run_is_live(self.engine, run_id) is False:
                shutil.rmtree(d, ignore_errors=True)
                swept += 1
        return swept
