"""The control-plane image, built for real from the project's Dockerfile: no fakes, no skips.

The wheels of the locked dependencies are downloaded on the host (cached under
~/.cache/burndown), the project is built as a wheel, and the image is built on the offline Debian
base. Without a Docker engine this fails (ImageError), it does not skip.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from sandbox.image import (
    CONTROL_PLANE_REPOSITORY,
    BuildInputs,
    ImageRef,
    build_control_plane_image,
    docker_client,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker_client(timeout=600)


@pytest.fixture(scope="module")
def built(client: docker.DockerClient) -> ImageRef:
    return build_control_plane_image(client, PROJECT_ROOT, BuildInputs())


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
