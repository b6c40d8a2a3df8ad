"""Worker processes: which queues a worker serves, how many at once, and how it stops.

`runs` workers take tickets (at most `run_slots` at once, one sandbox each); `intake` workers
take deliveries and periodic jobs, so intake never waits behind a run. On SIGTERM a worker
takes no new work and lets its runs finish for `shutdown_grace_seconds`; then it asks them to
stop, and they end cleanly with their tickets queued again for another worker.
"""

import os
import socket
import threading
from enum import StrEnum
from typing import Any

from sandbox.errors import BurndownError
from worker.celery_app import create_celery, intake_queue
from worker.logs import get_logger
from worker.settings import Settings
from worker.store.liveness import request_requeue
from worker.wiring import container_runtime, engine_for, reap_sandboxes

log = get_logger(__name__)


class Role(StrEnum):
    """What a worker process serves."""

    ALL = "all"
    RUNS = "runs"
    INTAKE = "intake"


def serve(settings: Settings, role: Role, concurrency: int | None = None) -> None:
    """Run a Celery worker of `role` until it is stopped."""
    from scheduler.jobs import register

    if role != Role.INTAKE:
        try:
            # What a previous worker left behind: only runs the store still has open survive.
            reap_sandboxes(settings, grace_seconds=0)
        except BurndownError as exc:
            log.warning("could not reap sandbox leftovers", error=str(exc))
    app = create_celery(settings)
    register(app, settings)
    queues = {
        Role.ALL: [settings.queue, intake_queue(settings)],
        Role.RUNS: [settings.queue],
        Role.INTAKE: [intake_queue(settings)],
    }[role]
    slots = concurrency or (
        settings.intake_concurrency if role == Role.INTAKE else settings.run_slots
    )
    name = f"{role}.{os.getpid()}@{socket.gethostname()}"
    if role != Role.INTAKE:
        _requeue_after_grace(settings)
    app.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--concurrency={slots}",
            f"--queues={','.join(queues)}",
            f"--hostname={name}",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
    if role != Role.INTAKE:
        _drain_pool(settings)


def _drain_pool(settings: Settings) -> None:
    """The warm sandboxes this deployment keeps go with its run worker (stopped, or its
    deployment taken down); the next worker makes new ones."""
    pool = container_runtime(settings).pool
    if pool is None:
        return
    try:
        pool.drain()
    except BurndownError as exc:
        log.warning("could not remove the warm pool", error=str(exc))


def _requeue_after_grace(settings: Settings) -> None:
    """When the worker starts shutting down, give its runs the grace period, then ask them to
    stop and be queued again (their heartbeats see it within seconds)."""
    from celery.signals import worker_shutting_down

    def on_shutdown(sender: Any = None, **_: Any) -> None:
        hostname = str(sender)

        def requeue() -> None:
            engine = engine_for(settings.resolved_database_url())
            try:
                runs = request_requeue(engine, hostname)
            except BurndownError as exc:
                log.warning("could not ask runs to stop", error=str(exc))
                return
            if runs:
                log.info("grace period over: runs asked to stop and requeue", runs=runs)

        timer = threading.Timer(settings.shutdown_grace_seconds, requeue)
        timer.daemon = True
        timer.start()

    worker_shutting_down.connect(on_shutdown, weak=False)
