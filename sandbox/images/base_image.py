"""The base image `burndown-base:<hash>`: `FROM scratch` plus the Debian root filesystem, the
bottom of both the sandbox and the control-plane image."""

from __future__ import annotations

import tempfile
from pathlib import Path

import docker

from sandbox.images.docker_build import docker_build, find_image, tag_latest
from sandbox.images.host import LogFn, link_or_copy, no_log
from sandbox.images.inputs import BASE_REPOSITORY, LABEL_KIND, LABEL_PREFIX, BuildInputs, short_hash
from sandbox.images.rootfs import build_base_rootfs, resolve_mirror, rootfs_key


def _base_dockerfile(suite: str) -> str:
    return (
        "FROM scratch\n"
        "ADD rootfs.tar /\n"
        f'LABEL {LABEL_KIND}="base" {LABEL_PREFIX}.debian-suite="{suite}"\n'
        'CMD ["/bin/bash"]\n'
    )


def base_image_tag(inputs: BuildInputs) -> str:
    """`burndown-base:<hash>` for these inputs (suite, packages, mirror, arch, base Dockerfile)."""
    mirror = resolve_mirror(inputs)
    key = rootfs_key(inputs.suite, inputs.packages, mirror.uri, inputs.arch)
    dockerfile = _base_dockerfile(inputs.suite)
    return f"{BASE_REPOSITORY}:{short_hash({'rootfs': key, 'dockerfile': dockerfile})}"


def ensure_base_image(
    client: docker.DockerClient, inputs: BuildInputs, *, log: LogFn = no_log
) -> str:
    """Tag of the base image `burndown-base:<hash>`, built `FROM scratch` from `rootfs.tar` when
    the tag is missing (making the root filesystem first if it is not cached)."""
    tag = base_image_tag(inputs)
    image = find_image(client, tag)
    if image is not None:
        log(f"base image: reusing {tag}")
        return tag
    tar_path = build_base_rootfs(inputs, log=log)
    with tempfile.TemporaryDirectory(prefix="burndown-base-") as tmp:
        context = Path(tmp)
        (context / "Dockerfile").write_text(_base_dockerfile(inputs.suite))
        link_or_copy(tar_path, context / "rootfs.tar")
        image = docker_build(
            client, context, tag, buildargs={}, timeout=inputs.docker_build_timeout, log=log
        )
    tag_latest(image, BASE_REPOSITORY)
    return tag
