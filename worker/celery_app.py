"""The Celery app: its broker, its settings and the run task.

Tasks are thin: they take ids and call plain functions. The scheduler adds its own tasks
(intake, periodic jobs) to the same app through `scheduler.jobs.register`. Objects come from
`worker.wiring`, never from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.pipeline import run_ticket
from worker.pipeline_config import PipelineDeps
from worker.settings import Settings
from worker.wiring import pipeline_deps

if TYPE_CHECKING:
    from celery import Celery

RUN_TASK = "burndown.run_ticket"


def create_celery(settings: Settings) -> Celery:
    """A Celery app on the configured broker (Redis, or the embedded SQLite transport)."""
    from celery import Celery  # imported here: `burndown sandbox run` needs no Celery

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = settings.resolved_broker_url()
    # The visibility timeout must outlast the longest run, or Redis hands a running task to a
    # second worker. The embedded SQLAlchemy transport passes its options to create_engine.
    transport = (
        {"visibility_timeout": settings.run_timeout_seconds + 900}
        if broker.startswith(("redis", "rediss"))
        else {}
    )
    app = Celery("burndown", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport,
        task_time_limit=settings.run_timeout_seconds + 600,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )

    deps: list[PipelineDeps] = []  # built on the first task, in the worker process only

    @app.task(name=RUN_TASK, shared=False)  # type: ignore[untyped-decorator]
    def run_ticket_task(ticket_id: int) -> None:
        if not deps:
            deps.append(pipeline_deps(settings))
        run_ticket(ticket_id, deps[0])

    return app
