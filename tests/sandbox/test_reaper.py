"""Nothing outlives its run: a terminated `burndown sandbox run` cleans up, and the reaper
removes what dead runs left (called directly, by a worker at start-up, and by the periodic
job). Each test reaps only its own deployment, so concurrent runs on this Docker host are safe."""

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container

from sandbox.reaper import reap
from sandbox.runtime import DEADLINE_LABEL, DEPLOYMENT_LABEL, MANAGED_LABEL, RUN_LABEL
from scheduler.jobs import REAP_TASK, register
from tests.support.processes import burndown, leftovers, process, wait_for
from worker.celery_app import create_celery
from worker.settings import Settings

pytestmark = pytest.mark.docker
_CLI = [sys.executable, "-m", "scheduler.cli"]


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    c = docker.from_env(timeout=60)
    yield c
    c.close()


@pytest.fixture
def deployment(client: docker.DockerClient) -> Iterator[str]:
    """A deployment name of this test only; whatever still carries it is removed afterwards."""
    name = f"reaper-test-{uuid.uuid4().hex[:8]}"
    yield name
    label = {"label": f"{DEPLOYMENT_LABEL}={name}"}
    for c in client.containers.list(all=True, filters=label):
        c.remove(force=True)
    for n in client.networks.list(filters=label):
        n.remove()


def _leftover(
    client: docker.DockerClient, image: str, deployment: str, run: str, deadline: float
) -> tuple[Container, str]:
    """A created (never started) container and a network, labelled as a run's would be."""
    labels = {
        MANAGED_LABEL: "true",
        DEPLOYMENT_LABEL: deployment,
        RUN_LABEL: run,
        DEADLINE_LABEL: str(int(deadline)),
    }
    c = client.containers.create(image, ["true"], labels=labels, network_mode="none")
    n = client.networks.create(f"{deployment}-{run}", internal=True, labels=labels)
    return c, str(n.id)


def _exists(client: docker.DockerClient, container: Container, network: str) -> tuple[bool, bool]:
    ids = {c.id for c in client.containers.list(all=True, sparse=True)}
    nets = {n.id for n in client.networks.list()}
    return container.id in ids, network in nets


def test_reap_removes_only_what_dead_runs_of_its_deployment_left(
    client: docker.DockerClient, sandbox_image: str, deployment: str
) -> None:
    now = time.time()
    later, earlier = now + 3600, now - 10
    finished = _leftover(client, sandbox_image, deployment, "101", later)
    live = _leftover(client, sandbox_image, deployment, "102", later)
    cli_overdue = _leftover(client, sandbox_image, deployment, "cli-a", earlier)
    cli_running = _leftover(client, sandbox_image, deployment, "cli-b", later)
    live_overdue = _leftover(client, sandbox_image, deployment, "103", earlier)
    other = f"{deployment}-other"
    foreign = _leftover(client, sandbox_image, other, "101", earlier)
    try:
        states = {"101": False, "102": True, "103": True}

        young = reap(client, deployment=deployment, run_state=states.get, grace_seconds=3600)
        assert (young.containers, young.networks) == ([], [])  # all younger than the grace

        report = reap(client, deployment=deployment, run_state=states.get, grace_seconds=0)
        assert report.errors == []
        assert len(report.containers) == 3 and len(report.networks) == 3
        for gone in (finished, cli_overdue, live_overdue):
            assert _exists(client, *gone) == (False, False)
        for kept in (live, cli_running, foreign):
            assert _exists(client, *kept) == (True, True)
    finally:
        for c in client.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={other}"}):
            c.remove(force=True)
        for n in client.networks.list(filters={"label": f"{DEPLOYMENT_LABEL}={other}"}):
            n.remove()


def _settings_env(tmp_path: Path, image: str, deployment: str) -> dict[str, str]:
    from tests.support.processes import child_env

    return child_env(
        {
            "BURNDOWN_DATA_DIR": str(tmp_path / "data"),
            "BURNDOWN_QUEUE": deployment,
            "BURNDOWN_SANDBOX_IMAGE": image,
            "BURNDOWN_SANDBOX_REAP_GRACE_SECONDS": "0",
        }
    )


def test_a_worker_reaps_at_start_up(
    client: docker.DockerClient, sandbox_image: str, deployment: str, tmp_path: Path
) -> None:
    env = _settings_env(tmp_path, sandbox_image, deployment)
    burndown(["db", "upgrade"], env)
    later = time.time() + 3600
    lost = _leftover(client, sandbox_image, deployment, "4242", later)  # not open in the store
    cli = _leftover(client, sandbox_image, deployment, "cli-c", later)
    log = tmp_path / "worker.log"
    with process(["worker"], env, log):
        wait_for("the start-up reap", lambda: _exists(client, *lost) == (False, False), 90, [log])
    assert _exists(client, *cli) == (True, True)


def test_the_periodic_job_reaps(
    client: docker.DockerClient, sandbox_image: str, deployment: str, tmp_path: Path
) -> None:
    env = _settings_env(tmp_path, sandbox_image, deployment)
    burndown(["db", "upgrade"], env)
    settings = Settings(data_dir=tmp_path / "data", queue=deployment, sandbox_reap_grace_seconds=0)
    app = create_celery(settings)
    register(app, settings)
    assert app.conf.beat_schedule["reap-sandboxes"]["task"] == REAP_TASK
    overdue = _leftover(client, sandbox_image, deployment, "cli-d", time.time() - 1)
    app.tasks[REAP_TASK]()
    assert _exists(client, *overdue) == (False, False)


def test_a_terminated_sandbox_run_leaves_nothing(
    env: dict[str, str], run_id: str, client: docker.DockerClient
) -> None:
    proc = subprocess.Popen(
        [
            *_CLI,
            "sandbox",
            "run",
            "--run-id",
            run_id,
            "--",
            "bash",
            "-c",
            "echo started; sleep 120",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n"
        assert len(leftovers(run_id)) == 3  # sandbox, proxy, network
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    # The run_id fixture asserts that nothing carries the run id any more.
