"""The control plane's background work: the Celery tasks of intake and the periodic jobs
(`tasks`), the reconciler (`reconcile`), the lifecycle sync (`lifecycle`), and the worker
processes that serve the queues (`workers`)."""

from scheduler.jobs.tasks import (
    INTAKE_BATCH_TASK,
    INTAKE_TASK,
    LIFECYCLE_TASK,
    REAP_TASK,
    RECONCILE_TASK,
    intake_deps,
    reconciler,
    register,
    run_lifecycle_sync,
)

__all__ = [
    "INTAKE_BATCH_TASK",
    "INTAKE_TASK",
    "LIFECYCLE_TASK",
    "REAP_TASK",
    "RECONCILE_TASK",
    "intake_deps",
    "reconciler",
    "register",
    "run_lifecycle_sync",
]
