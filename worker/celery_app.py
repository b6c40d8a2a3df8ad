"""The Celery app: its broker, its settings and the run task.

Tasks are thin: they take ids and call plain functions. The scheduler adds its own tasks
(intake, periodic jobs) to the same app through `scheduler.jobs.register`. Objects come from
`worker.wiring`, never from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.pipeline import run_ticket
from worker.pipeline_config import PipelineDeps
from worker.settings import Settings
from worker.wiring import dispose_engines, pipeline_deps

if TYPE_CHECKING:
    from celery import Celery

RUN_TASK = "burndown.run_ticket"
SOFT_MARGIN_SECONDS = 120
"""Past the run's deadline, Celery's soft limit interrupts the task (which records the outcome
and cleans up); its hard limit kills the process this much later again."""


def intake_queue(settings: Settings) -> str:
    """The queue of deliveries and periodic jobs: never behind a run."""
    return f"{settings.queue}.intake"


def create_celery(settings: Settings) -> Celery:
    """A Celery app on the configured broker (Redis, or the embedded SQLite transport). Runs
    go to the queue `settings.queue`; intake and periodic jobs to `<queue>.intake`, served by
    their own workers, so a delivery is handled within seconds however many runs are going."""
    from celery import Celery  # imported here: `burndown sandbox run` needs no Celery
    from celery.signals import worker_process_init

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = settings.resolved_broker_url()
    soft = settings.run_timeout_seconds + SOFT_MARGIN_SECONDS
    hard = soft + SOFT_MARGIN_SECONDS
    # The visibility timeout must outlast the longest run, or Redis hands a running task to a
    # second worker. The embedded SQLAlchemy transport passes its options to create_engine.
    transport = {"visibility_timeout": hard + 600} if broker.startswith(("redis", "rediss")) else {}
    app = Celery("burndown", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=intake_queue(settings),
        task_routes={RUN_TASK: {"queue": settings.queue}},
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport,
        task_soft_time_limit=600,
        task_time_limit=900,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
    # A forked child must not share the parent's database connections.
    worker_process_init.connect(lambda **_: dispose_engines(), weak=False)

    deps: list[PipelineDeps] = []  # built on the first task, in the worker process only

    @app.task(  # type: ignore[untyped-decorator]
        name=RUN_TASK, shared=False, bind=True, soft_time_limit=soft, time_limit=hard
    )
    def run_ticket_task(task: Any, ticket_id: int) -> None:
        if not deps:
            deps.append(pipeline_deps(settings))
        run_ticket(ticket_id, deps[0], worker=task.request.hostname)

    return app
