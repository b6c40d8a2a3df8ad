"""The control-plane image, built for real from the project's Dockerfile through the command
users run (`burndown sandbox build --control-plane`): no fakes, no skips.

The wheels of the locked dependencies are downloaded on the host (cached under
~/.cache/burndown), the project is built as a wheel, and the image is built on the offline Debian
base. Without a Docker engine this fails (the command exits 1), it does not skip.
"""

from __future__ import annotations

import re
import time
import uuid

import docker
import pytest

from sandbox.docker_client import docker_client
from sandbox.images import CONTROL_PLANE_REPOSITORY, ImageRef
from tests.support.processes import burndown, child_env

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker_client(600)


@pytest.fixture(scope="module")
def built(client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> ImageRef:
    data_dir = tmp_path_factory.mktemp("control-plane")
    env = child_env({"BURNDOWN_DATA_DIR": str(data_dir)})
    out = burndown(["sandbox", "build", "--control-plane"], env, timeout=1700)
    found = re.search(r"^(\S+) \((built|current)\)$", out, re.MULTILINE)
    assert found is not None, out
    image = client.images.get(found.group(1))
    return ImageRef(
        tag=found.group(1),
        image_id=str(image.id),
        built=found.group(2) == "built",
        size_bytes=int(image.attrs.get("Size") or 0),
        labels=dict(image.labels or {}),
    )


def test_image_is_tagged_by_content(client: docker.DockerClient, built: ImageRef) -> None:
    assert built.tag.startswith(f"{CONTROL_PLANE_REPOSITORY}:")
    assert client.images.get(f"{CONTROL_PLANE_REPOSITORY}:latest").id == built.image_id
    config = client.images.get(built.tag).attrs["Config"]
    assert config["Entrypoint"] == ["burndown"]
    assert config["Cmd"] == ["api"]


def test_burndown_help_runs_as_non_root(client: docker.DockerClient, built: ImageRef) -> None:
    user = client.images.get(built.tag).attrs["Config"]["User"]
    assert user.split(":")[0] == "10001"
    out = client.containers.run(
        built.tag, ["--help"], remove=True, network_disabled=True, stdout=True, stderr=True
    )
    assert b"Usage" in out
    ident = client.containers.run(
        built.tag, ["-u"], entrypoint="id", remove=True, network_disabled=True
    )
    assert ident.strip() == b"10001"


def test_the_image_starts_api_worker_and_beat(client: docker.DockerClient, built: ImageRef) -> None:
    """Each process starts in the image as its non-root user on the single-host defaults
    (SQLite store, embedded broker): the API answers /healthz, the worker and beat come up."""
    network = client.networks.create(f"burndown-cp-test-{uuid.uuid4().hex[:12]}", internal=True)
    env = {"BURNDOWN_DATA_DIR": "/tmp/burndown", "BURNDOWN_API_HOST": "0.0.0.0"}
    started = []
    try:
        for cmd in (["db", "upgrade"],):
            client.containers.run(
                built.tag, cmd, environment=env, remove=True, network_disabled=True
            )
        api = client.containers.run(
            built.tag, ["api"], environment=env, detach=True, network=network.name
        )
        started.append(api)
        api.reload()
        ip = api.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        probe = (
            "import urllib.request,time\n"
            "for _ in range(100):\n"
            "    try:\n"
            f"        print(urllib.request.urlopen('http://{ip}:8000/healthz',"
            " timeout=2).read().decode()); break\n"
            "    except Exception: time.sleep(0.2)\n"
        )
        out = client.containers.run(
            built.tag, ["-c", probe], entrypoint="python3", network=network.name, remove=True
        )
        assert b'"status":"ok"' in out
        for role, ready in (("worker", b"ready"), ("beat", b"beat: Starting")):
            c = client.containers.run(
                built.tag, [role], environment=env, detach=True, network_disabled=True
            )
            started.append(c)
            logs = b""
            for _ in range(150):
                logs = c.logs()
                if ready in logs or c.reload() or c.status == "exited":
                    break
                time.sleep(0.2)
            assert ready in logs, logs.decode(errors="replace")[-2000:]
    finally:
        for c in started:
            c.remove(force=True)
        network.remove()
