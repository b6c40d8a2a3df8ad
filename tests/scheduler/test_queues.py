"""Intake and the periodic jobs travel on `<queue>.intake`, runs on `<queue>`, so that workers
can be dedicated to either (`burndown worker --role`)."""

import subprocess
import sys
from pathlib import Path

from scheduler.jobs import INTAKE_TASK, LIFECYCLE_TASK, REAP_TASK, RECONCILE_TASK, register
from tests.support.processes import child_env
from worker.celery_app import RUN_TASK, create_celery, intake_queue
from worker.settings import Settings


def _queue_of(settings: Settings, task: str) -> str:
    app = create_celery(settings)
    register(app, settings)
    route = app.amqp.router.route({}, task, args=(1,), kwargs={})
    return str(route["queue"].name)


def test_intake_and_jobs_and_runs_have_queues_of_their_own(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, queue="acme")
    assert intake_queue(settings) == "acme.intake"
    for task in (INTAKE_TASK, RECONCILE_TASK, LIFECYCLE_TASK, REAP_TASK):
        assert _queue_of(settings, task) == "acme.intake", task
    assert _queue_of(settings, RUN_TASK) == "acme"


def test_a_worker_refuses_an_unknown_role(tmp_path: Path) -> None:
    env = child_env({"BURNDOWN_DATA_DIR": str(tmp_path)})
    proc = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "worker", "--role", "everything"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--role must be one of" in proc.stdout + proc.stderr
