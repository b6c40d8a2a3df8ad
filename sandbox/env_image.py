"""Environment images: a repository's setup, run once in a sandbox and kept as an image.

The setup runs in a container of the toolchain image under the sandbox policy (non-root, caps
dropped, limits, the run's network whose only way out is the egress proxy, here allowing the
package hosts) but with a writable root, so that `docker commit` keeps what it installed under
`/opt/env`. Its workspace is a bind mount and `/tmp` a tmpfs: neither is kept. The committed
image keeps the toolchain image's configuration (its environment, user, command), never the
build container's (its proxy variables, its command), and carries labels saying what it was
built from. `EnvironmentImages` is the seam; `DockerEnvironmentImages` the Docker one and
`sandbox.fakes.FakeEnvironmentImages` the tests' one.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from docker.errors import APIError
from docker.models.containers import Container
from docker.models.images import Image
from pydantic import BaseModel, Field

from sandbox.docker_client import find_image, remove_resource, translate_docker_errors
from sandbox.docker_runtime import DockerRuntime
from sandbox.errors import SandboxError
from sandbox.runtime import ContainerExit, ContainerSpec, LineSink

ENV_REPOSITORY = "burndown-env"
ENV_LABEL_PREFIX = "org.burndown.env."
KEY_LABEL = f"{ENV_LABEL_PREFIX}key"
CREATED_LABEL = f"{ENV_LABEL_PREFIX}created"


class EnvImage(BaseModel):
    """A committed environment image."""

    tag: str
    image_id: str
    labels: dict[str, str] = Field(default_factory=dict)
    size_bytes: int = 0

    @property
    def created(self) -> float:
        """When it was built (epoch seconds), from its label; 0 when unknown."""
        try:
            return float(self.labels.get(CREATED_LABEL, "0"))
        except ValueError:
            return 0.0


class EnvBuildResult(BaseModel):
    """How a setup ended, and the image when it succeeded."""

    exit: ContainerExit
    image: EnvImage | None = None


class EnvironmentImages(Protocol):
    """Builds, finds, lists and removes environment images."""

    def find(self, tag: str) -> EnvImage | None:
        """The image `tag` (an environment's, or the one it starts from), or None."""
        ...

    def build(
        self, spec: ContainerSpec, tag: str, labels: dict[str, str], on_line: LineSink
    ) -> EnvBuildResult:
        """Run `spec` (the setup) with a writable root; on exit code 0 commit the container as
        `tag` with `labels`. `SandboxError` when the runtime itself fails."""
        ...

    def list(self) -> list[EnvImage]:
        """Every environment image on this host."""
        ...

    def remove(self, tag: str) -> bool:
        """Remove the environment image `tag`; False when it was gone already, is in use, or
        is not an environment image."""
        ...


class _CommittingRuntime(DockerRuntime):
    """The Docker runtime with a writable root, committing the container when it succeeds."""

    def __init__(self, api_timeout: float, tag: str, labels: dict[str, str]) -> None:
        super().__init__(api_timeout)
        self._tag, self._labels = tag, labels
        self.image: Image | None = None

    def _filesystem(self, spec: ContainerSpec) -> dict[str, Any]:
        size = spec.policy.tmpfs_size
        return {"read_only": False, "tmpfs": {"/tmp": f"rw,exec,nosuid,nodev,size={size}"}}

    def _after_exit(self, container: Container, spec: ContainerSpec, exit_: ContainerExit) -> None:
        if not exit_.ok:
            return
        base = find_image(self._client, spec.image)
        if base is None:
            raise SandboxError(f"the environment's base image {spec.image} vanished")
        config: dict[str, Any] = base.attrs.get("Config") or {}
        repository, _, tag = self._tag.partition(":")
        # Docker merges the build container's variables into a commit's configuration: each
        # that the base image lacks (the proxy's) is kept empty, which tools read as unset.
        env: list[str] = list(config.get("Env") or [])
        known = {item.split("=", 1)[0] for item in env}
        container.reload()
        for item in container.attrs.get("Config", {}).get("Env") or []:
            name = item.split("=", 1)[0]
            if name not in known:
                env.append(f"{name}=")
                known.add(name)
        conf = {
            "Env": env,
            "Cmd": config.get("Cmd") or ["/bin/bash"],
            "Entrypoint": config.get("Entrypoint"),
            "User": config.get("User") or "",
            "WorkingDir": config.get("WorkingDir") or "/workspace",
            "Labels": {**(config.get("Labels") or {}), **self._labels},
        }
        with translate_docker_errors(f"cannot commit the environment {self._tag}"):
            self.image = container.commit(repository=repository, tag=tag or "latest", conf=conf)


class DockerEnvironmentImages:
    """Environment images on a Docker Engine."""

    def __init__(self, api_timeout: float = 120.0) -> None:
        self._api_timeout = api_timeout
        self._runtime = DockerRuntime(api_timeout)

    def find(self, tag: str) -> EnvImage | None:
        image = find_image(self._runtime._client, tag)
        return _env_image(image, tag) if image is not None else None

    def build(
        self, spec: ContainerSpec, tag: str, labels: dict[str, str], on_line: LineSink
    ) -> EnvBuildResult:
        runtime = _CommittingRuntime(
            self._api_timeout, tag, {**labels, CREATED_LABEL: str(int(time.time()))}
        )
        exit_ = runtime.run(spec, on_line, on_line)
        image = _env_image(runtime.image, tag) if runtime.image is not None else None
        return EnvBuildResult(exit=exit_, image=image)

    def list(self) -> list[EnvImage]:
        with translate_docker_errors("cannot list the environment images"):
            images = self._runtime._client.images.list(filters={"label": KEY_LABEL})
        found = []
        for image in images:
            for tag in image.tags or []:
                if tag.startswith(f"{ENV_REPOSITORY}:"):
                    found.append(_env_image(image, tag))
        return sorted(found, key=lambda e: e.created)

    def remove(self, tag: str) -> bool:
        # Only environments: a caller naming the image a run started from (a toolchain image,
        # when the repository has no setup) must not untag what every run needs.
        if not tag.startswith(f"{ENV_REPOSITORY}:"):
            return False
        client = self._runtime._client
        try:
            return remove_resource(lambda: client.images.remove(tag), f"image {tag}")
        except SandboxError as exc:
            if isinstance(exc.__cause__, APIError) and exc.__cause__.status_code == 409:
                return False  # a container uses it
            raise


def _env_image(image: Image, tag: str) -> EnvImage:
    attrs: dict[str, Any] = image.attrs
    return EnvImage(
        tag=tag,
        image_id=str(image.id),
        labels=dict(image.labels or {}),
        size_bytes=int(attrs.get("Size") or 0),
    )
