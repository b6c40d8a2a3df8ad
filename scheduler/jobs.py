"""The control plane's Celery tasks (intake, reconcile) and the beat schedule."""

from collections.abc import Callable
from datetime import timedelta

import structlog
from celery import Celery
from sqlalchemy import Engine

from sandbox.errors import BurndownError
from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from scheduler.lifecycle import SyncCounts, sync_lifecycle
from worker.celery_app import RUN_TASK, engine_for, github_client, reap_sandboxes
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

INTAKE_TASK = "burndown.intake"
INTAKE_BATCH_TASK = "burndown.intake_batch"  # what the API sends: one message per group commit
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

    @app.task(name=INTAKE_BATCH_TASK, shared=False)  # type: ignore[untyped-decorator]
    def intake_batch_task(delivery_ids: list[str]) -> None:
        deps = intake_deps(app, settings)
        for delivery_id in delivery_ids:
            try:
                process_delivery(delivery_id, deps)
            except BurndownError as exc:  # left pending: the reconciler sends it again
                log.warning("delivery not handled", delivery=delivery_id, error=str(exc))

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
