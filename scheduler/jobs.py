"""The control plane's Celery tasks (intake, reconcile) and the beat schedule."""

from collections.abc import Callable
from datetime import timedelta

import structlog
from celery import Celery
from sqlalchemy import Engine

from scheduler.handling import IntakeDeps
from scheduler.intake import process_delivery
from scheduler.lifecycle import SyncCounts, sync_lifecycle
from worker.celery_app import RUN_TASK
from worker.errors import ConfigError
from worker.settings import Settings
from worker.store.models import OutcomeKind, utcnow
from worker.store.repo import (
    RunResult,
    finish_run,
    pending_deliveries,
    stale_queued,
    stale_running,
)
from worker.wiring import engine_for, github_client, reap_sandboxes

INTAKE_TASK = "burndown.intake"
RECONCILE_TASK = "burndown.reconcile"
LIFECYCLE_TASK = "burndown.lifecycle_sync"
REAP_TASK = "burndown.reap_sandboxes"
log = structlog.get_logger("jobs")
SendFn = Callable[[str, object], object]


def register(app: Celery, settings: Settings) -> None:
    """Add intake and the periodic jobs (reconciler, lifecycle sync, sandbox reaper)."""

    @app.task(name=INTAKE_TASK, shared=False)  # type: ignore[untyped-decorator]
    def intake_task(delivery_id: str) -> None:
        process_delivery(delivery_id, intake_deps(app, settings))

    @app.task(name=RECONCILE_TASK, shared=False)  # type: ignore[untyped-decorator]
    def reconcile_task() -> None:
        reconcile(
            engine_for(settings.resolved_database_url()),
            send=lambda name, arg: app.send_task(name, args=[arg]),
            run_timeout=settings.run_timeout_seconds,
            grace=settings.reconcile_interval_seconds,
        )

    @app.task(name=LIFECYCLE_TASK, shared=False)  # type: ignore[untyped-decorator]
    def lifecycle_task() -> None:
        try:
            run_lifecycle_sync(settings)
        except ConfigError as exc:
            log.warning("lifecycle sync skipped", reason=str(exc))

    @app.task(name=REAP_TASK, shared=False)  # type: ignore[untyped-decorator]
    def reap_task() -> None:
        reap_sandboxes(settings, grace_seconds=settings.sandbox_reap_grace_seconds)

    app.conf.beat_schedule = {
        "reconcile": {"task": RECONCILE_TASK, "schedule": settings.reconcile_interval_seconds},
        "lifecycle": {"task": LIFECYCLE_TASK, "schedule": settings.lifecycle_sync_interval_seconds},
        "reap-sandboxes": {"task": REAP_TASK, "schedule": settings.reconcile_interval_seconds},
    }
    # Control tasks have a queue of their own, so that workers can be dedicated to intake or
    # to runs (`burndown worker --queues`); runs stay on the deployment's queue.
    control = {"queue": control_queue(settings)}
    app.conf.task_routes = {
        name: control for name in (INTAKE_TASK, RECONCILE_TASK, LIFECYCLE_TASK, REAP_TASK)
    }


def control_queue(settings: Settings) -> str:
    """The queue of intake and the periodic jobs: `<queue>.control`."""
    return f"{settings.queue}.control"


def run_lifecycle_sync(settings: Settings) -> SyncCounts:
    """One lifecycle sync with the configured store, GitHub and windows."""
    return sync_lifecycle(
        engine_for(settings.resolved_database_url()),
        github_client(settings),
        now=utcnow(),
        lookback=timedelta(days=settings.lifecycle_lookback_days),
        overlap=timedelta(hours=settings.lifecycle_overlap_hours),
    )


def intake_deps(app: Celery, settings: Settings) -> IntakeDeps:
    return IntakeDeps(
        engine=engine_for(settings.resolved_database_url()),
        github=github_client(settings),
        trigger_label=settings.trigger_label,
        enqueue_run=lambda tid: app.send_task(RUN_TASK, args=[tid]),
        max_fix_runs=settings.max_fix_runs,
    )


def reconcile(engine: Engine, *, send: SendFn, run_timeout: float, grace: float) -> dict[str, int]:
    """Recover what a lost message or a dead worker left: deliveries never processed and
    tickets never started are sent again (both are idempotent), runs that outlived their time
    limit by far are closed as failed."""
    now = utcnow()
    deliveries = pending_deliveries(engine)
    for d in deliveries:
        send(INTAKE_TASK, d)
    queued = stale_queued(engine, now - timedelta(seconds=grace))
    for t in queued:
        send(RUN_TASK, t)
    dead = stale_running(engine, now - timedelta(seconds=run_timeout + 600 + grace))
    for r in dead:
        finish_run(
            engine,
            r,
            RunResult(outcome=OutcomeKind.FAILED, detail="the worker running this was lost"),
        )
    counts = {"deliveries": len(deliveries), "queued": len(queued), "dead_runs": len(dead)}
    if any(counts.values()):
        log.info("reconciled", **counts)
    return counts
