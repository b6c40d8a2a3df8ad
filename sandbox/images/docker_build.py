"""The Docker steps of every image build: find, build (streaming the log), tag `:latest`.

Docker's errors become `ImageError` through `sandbox.docker_client`; nothing is ever pulled.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker
from docker.models.images import Image

from sandbox import docker_client
from sandbox.docker_client import translate_docker_errors
from sandbox.errors import ImageError
from sandbox.images.host import LogFn
from sandbox.images.inputs import LATEST, ImageRef


def find_image(client: docker.DockerClient, ref: str) -> Image | None:
    """The local image `ref`, or `None` if there is none. Never pulls."""
    return docker_client.find_image(client, ref, error=ImageError)


def read_dockerfile(path: Path) -> str:
    """The text of the Dockerfile at `path`."""
    try:
        return path.read_text()
    except OSError as exc:
        raise ImageError(f"cannot read Dockerfile {path}: {exc}") from exc


def tag_latest(image: Image, repository: str) -> None:
    """Point `repository:latest` at `image`."""
    with translate_docker_errors(f"cannot tag {repository}:{LATEST}", error=ImageError):
        image.tag(repository, LATEST)


def image_ref(image: Image, tag: str, *, built: bool) -> ImageRef:
    """What a build returns about `image`, found or made under `tag`."""
    attrs: dict[str, Any] = image.attrs
    return ImageRef(
        tag=tag,
        image_id=str(image.id),
        built=built,
        size_bytes=int(attrs.get("Size") or 0),
        labels=dict(image.labels or {}),
    )


def docker_build(
    client: docker.DockerClient,
    context: Path,
    tag: str,
    *,
    buildargs: Mapping[str, str],
    timeout: int,
    log: LogFn,
) -> Image:
    """`docker build` `context` as `tag`, streaming its log to `log`; never pulls.

    Labels come from the Dockerfiles (with build arguments), not from the API's `labels`: the
    classic builder turns each API label into one more instruction, each a container commit."""
    log(f"docker build {tag}")
    lines: list[str] = []
    with translate_docker_errors(f"docker build of {tag} failed", error=ImageError):
        stream = client.api.build(
            path=str(context),
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            buildargs=dict(buildargs),
            timeout=timeout,
        )
        for chunk in stream:
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk:
                detail = "".join(lines[-30:])
                raise ImageError(f"docker build of {tag} failed: {chunk['error']}\n{detail}")
            text = chunk.get("stream")
            if isinstance(text, str):
                lines.append(text)
                for line in text.splitlines():
                    if line.strip():
                        log(f"  {line}")
    image = find_image(client, tag)
    if image is None:
        raise ImageError(f"docker build of {tag} reported success but the tag is missing")
    return image
