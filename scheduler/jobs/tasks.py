"""The control plane's Celery tasks (intake, reconcile, lifecycle sync, reaper) and the beat
schedule. Tasks are thin: the work is in `scheduler.intake`, `scheduler.jobs.reconcile`, ...."""

import contextlib
from datetime import timedelta

from celery import Celery

from sandbox.errors import BurndownError
from sandbox.runtime import ContainerRuntime
from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from scheduler.jobs.lifecycle import SyncCounts, sync_lifecycle
from scheduler.jobs.linear_sync import sync_linear
from scheduler.jobs.polling import register_polling
from scheduler.jobs.reconcile import ReconcilePolicy, Reconciler
from worker.celery_app import RUN_TASK
from worker.errors import ConfigError
from worker.github.protocol import GitHubClient
from worker.logs import get_logger
from worker.settings import Settings
from worker.store.liveness import record_failure
from worker.store.models import utcnow
from worker.wiring import (
    container_runtime,
    engine_for,
    github_client,
    linear_client,
    linear_trust,
    prune_repo_cache,
    reap_sandboxes,
)

INTAKE_TASK = "burndown.intake"
INTAKE_BATCH_TASK = "burndown.intake_batch"  # what the API sends: one message per group commit
RECONCILE_TASK = "burndown.reconcile"
LIFECYCLE_TASK = "burndown.lifecycle_sync"
REAP_TASK = "burndown.reap_sandboxes"
log = get_logger(__name__)


def register(app: Celery, settings: Settings) -> None:
    """Add intake and the periodic jobs (reconciler, lifecycle sync, sandbox reaper)."""

    @app.task(name=INTAKE_TASK, shared=False)  # type: ignore[untyped-decorator]
    def intake_task(delivery_id: str) -> None:
        deps = intake_deps(app, settings)
        try:
            process_delivery(delivery_id, deps)
        except Exception as exc:  # recorded; the reconciler sends it again, with backoff
            log.exception("intake failed", delivery=delivery_id)
            record_failure(deps.engine, delivery_id, f"{type(exc).__name__}: {exc}")

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
        reconciler(app, settings).run(utcnow())

    @app.task(name=LIFECYCLE_TASK, shared=False)  # type: ignore[untyped-decorator]
    def lifecycle_task() -> None:
        try:
            run_lifecycle_sync(settings)
        except ConfigError as exc:
            log.warning("lifecycle sync skipped", reason=str(exc))

    @app.task(name=REAP_TASK, shared=False)  # type: ignore[untyped-decorator]
    def reap_task() -> None:
        reap_sandboxes(settings, grace_seconds=settings.sandbox_reap_grace_seconds)
        prune_repo_cache(settings)

    app.conf.beat_schedule = {
        "reconcile": {"task": RECONCILE_TASK, "schedule": settings.reconcile_interval_seconds},
        "lifecycle": {"task": LIFECYCLE_TASK, "schedule": settings.lifecycle_sync_interval_seconds},
        "reap-sandboxes": {"task": REAP_TASK, "schedule": settings.reconcile_interval_seconds},
    }
    register_polling(app, settings, INTAKE_TASK)


def reconciler(app: Celery, settings: Settings) -> Reconciler:
    """The reconciler of this deployment; without Docker or a GitHub token it still settles
    the store, and says so."""
    runtime: ContainerRuntime | None = None
    github: GitHubClient | None = None
    try:
        runtime = container_runtime(settings)
    except BurndownError as exc:
        log.warning("reconciler without Docker", error=str(exc))
    with contextlib.suppress(ConfigError):
        github = github_client(settings)
    return Reconciler(
        engine=engine_for(settings.resolved_database_url()),
        send=lambda name, arg: app.send_task(name, args=[arg]),
        intake_task=INTAKE_TASK,
        run_task=RUN_TASK,
        policy=ReconcilePolicy(
            first_wait=settings.reconcile_interval_seconds,
            max_wait=settings.resend_max_wait_seconds,
            heartbeat_timeout=settings.heartbeat_timeout_seconds,
            max_run_attempts=settings.max_run_attempts,
            max_delivery_attempts=settings.max_delivery_attempts,
            public_url=settings.public_url,
        ),
        runtime=runtime,
        github=github,
        workspaces=settings.data_dir.resolve() / "workspaces",
        deployment=settings.queue,
    )


def run_lifecycle_sync(settings: Settings) -> SyncCounts:
    """One lifecycle sync with the configured store, GitHub and windows; with Linear
    configured and mapped, its closed issues too (their counts join GitHub's)."""
    counts = sync_lifecycle(
        engine_for(settings.resolved_database_url()),
        github_client(settings),
        now=utcnow(),
        lookback=timedelta(days=settings.lifecycle_lookback_days),
        overlap=timedelta(hours=settings.lifecycle_overlap_hours),
    )
    linear = linear_client(settings)
    if linear is not None and settings.linear_repos:
        found = sync_linear(
            engine_for(settings.resolved_database_url()),
            linear,
            settings.linear_repos,
            now=utcnow(),
            lookback=timedelta(days=settings.lifecycle_lookback_days),
            overlap=timedelta(hours=settings.lifecycle_overlap_hours),
        )
        counts.issues_seen += found.issues_seen
        counts.errors += found.errors
    return counts


def intake_deps(app: Celery, settings: Settings) -> IntakeDeps:
    return IntakeDeps(
        engine=engine_for(settings.resolved_database_url()),
        github=github_client(settings),
        trigger_label=settings.trigger_label,
        enqueue_run=lambda tid: app.send_task(RUN_TASK, args=[tid]),
        max_fix_runs=settings.max_fix_runs,
        trusted_check_apps=frozenset(settings.trusted_check_apps),
        linear=linear_client(settings),
        linear_repos=settings.linear_repos,
        linear_trust=linear_trust(settings),
    )
