"""`DockerRuntime.stop_run` against the real Docker engine: run ids repeat across deployments
(each store counts from 1), so a deployment's runtime kills only its own run's sandboxes."""

import uuid
from collections.abc import Iterator

import docker
import pytest
from docker.models.containers import Container

from sandbox.docker_runtime import DockerRuntime
from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    c = docker.from_env(timeout=60)
    yield c
    c.close()


def _sleeper(client: docker.DockerClient, image: str, deployment: str) -> Container:
    labels = {RUN_LABEL: "1", DEPLOYMENT_LABEL: deployment}
    return client.containers.run(
        image, ["sleep", "120"], detach=True, labels=labels, network_mode="none"
    )


def test_stop_run_kills_only_its_own_deployment_s_sandboxes(
    client: docker.DockerClient, sandbox_image: str
) -> None:
    ours, theirs = f"stop-a-{uuid.uuid4().hex[:8]}", f"stop-b-{uuid.uuid4().hex[:8]}"
    mine, other = _sleeper(client, sandbox_image, ours), _sleeper(client, sandbox_image, theirs)
    try:
        assert DockerRuntime(api_timeout=30).stop_run("1", ours) == 1
        mine.reload()
        other.reload()
        assert (mine.status, other.status) == ("exited", "running")
    finally:
        for c in (mine, other):
            c.remove(force=True)
