"""Build every image of the compose stack offline: `uv run scripts/build_compose_images.py`.

- `burndown-control-plane` (API, workers, beat): `sandbox.images.build_control_plane_image`;
- `burndown-services` (Redis and PostgreSQL): a debootstrapped Debian with Debian's `redis-server`
  and `postgresql-15` (debootstrap `--include`s them on the host; no container reaches a mirror),
  plus the entrypoints of `infra/compose/services/`;
- `burndown-flower`: the control-plane image plus Flower's wheels, downloaded on the host;
- `burndown-sandbox` is not built here (`burndown sandbox build` builds it).

Each image is tagged `<repository>:<hash of its inputs>` and `:latest`; the same inputs reuse the
tag. Prints one JSON object: service -> tag. Needs root once (debootstrap), a Docker engine and
the host's Debian mirror and package index; the containers and builds reach neither.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import docker

from sandbox.docker_client import docker_client
from sandbox.errors import ImageError
from sandbox.images.control_plane import build_control_plane_image, remove_stale_images
from sandbox.images.docker_build import docker_build, find_image, tag_latest
from sandbox.images.host import LogFn, cache_lock, link_or_copy, run_command
from sandbox.images.inputs import LATEST, SANDBOX_REPOSITORY, BuildInputs, file_sha256, short_hash
from sandbox.images.rootfs import make_rootfs_tar, resolve_mirror, rootfs_key
from sandbox.images.wheels import pip_command

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_DIR = ROOT / "infra" / "compose"
SERVICES_REPOSITORY = "burndown-services"
FLOWER_REPOSITORY = "burndown-flower"
#: Debian packages of the services image, on top of debootstrap's minbase.
SERVICE_PACKAGES = ("ca-certificates", "postgresql-15", "procps", "redis-server")
FLOWER_VERSION = "2.0.1"


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def build_services_image(
    client: docker.DockerClient, inputs: BuildInputs, *, log: LogFn = _log
) -> str:
    """`burndown-services:<hash>`: Redis and PostgreSQL from Debian's packages, no registry."""
    mirror = resolve_mirror(inputs)
    source = COMPOSE_DIR / "services"
    files = sorted(p for p in source.iterdir() if p.is_file())
    key = rootfs_key(inputs.suite, SERVICE_PACKAGES, mirror.uri, inputs.arch)
    digest = short_hash({"rootfs": key, "files": {p.name: file_sha256(p) for p in files}})
    tag = f"{SERVICES_REPOSITORY}:{digest}"
    image = find_image(client, tag)
    if image is None:
        tar = make_rootfs_tar(
            suite=inputs.suite,
            packages=SERVICE_PACKAGES,
            mirror=mirror.uri,
            arch=inputs.arch,
            keyring=mirror.keyring,
            cache_dir=inputs.cache_dir,
            timeout=inputs.rootfs_timeout,
            log=log,
        )
        with tempfile.TemporaryDirectory(prefix="burndown-services-") as tmp:
            context = Path(tmp)
            for path in files:
                shutil.copy2(path, context / path.name)
            link_or_copy(tar, context / "rootfs.tar")
            image = docker_build(
                client,
                context,
                tag,
                buildargs={"SERVICES_VERSION": tag.split(":", 1)[1]},
                timeout=inputs.docker_build_timeout,
                log=log,
            )
    tag_latest(image, SERVICES_REPOSITORY)
    return tag


def fetch_flower_wheels(inputs: BuildInputs, *, log: LogFn = _log) -> Path:
    """Flower and its dependencies as wheels for the image's platform, downloaded on the host."""
    slot = inputs.cache_dir / "flower" / f"{FLOWER_VERSION}-py{inputs.python_version}"
    done = slot / ".complete"
    with cache_lock(inputs.cache_dir / "locks" / "flower.lock", timeout=inputs.download_timeout):
        if not done.is_file():
            slot.mkdir(parents=True, exist_ok=True)
            log(f"pip download flower=={FLOWER_VERSION} into {slot}")
            run_command(
                [
                    *pip_command(),
                    "download",
                    "--only-binary=:all:",
                    "--python-version",
                    inputs.python_version,
                    "--implementation",
                    "cp",
                    "--platform",
                    "manylinux2014_x86_64",
                    "--platform",
                    "manylinux_2_28_x86_64",
                    "--progress-bar",
                    "off",
                    "-d",
                    str(slot),
                    f"flower=={FLOWER_VERSION}",
                ],
                timeout=inputs.download_timeout,
                what="pip download flower",
            )
            done.write_text("ok\n")
    return slot


def build_flower_image(
    client: docker.DockerClient, inputs: BuildInputs, control_plane: str, *, log: LogFn = _log
) -> str:
    """`burndown-flower:<hash>`: the control-plane image with Flower installed offline."""
    cp = find_image(client, control_plane)
    if cp is None:
        raise ImageError(f"control-plane image {control_plane} is missing")
    dockerfile = COMPOSE_DIR / "flower" / "Dockerfile"
    wheels = fetch_flower_wheels(inputs, log=log)
    payload = {
        "dockerfile": dockerfile.read_text(),
        "base": str(cp.id),
        "wheels": sorted(p.name for p in wheels.glob("*.whl")),
    }
    tag = f"{FLOWER_REPOSITORY}:{short_hash(payload)}"
    image = find_image(client, tag)
    if image is None:
        with tempfile.TemporaryDirectory(prefix="burndown-flower-") as tmp:
            context = Path(tmp)
            shutil.copyfile(dockerfile, context / "Dockerfile")
            for wheel in sorted(wheels.glob("*.whl")):
                link_or_copy(wheel, context / "wheels" / wheel.name)
            image = docker_build(
                client,
                context,
                tag,
                buildargs={"CONTROL_PLANE_IMAGE": control_plane, "FLOWER_VERSION": FLOWER_VERSION},
                timeout=inputs.docker_build_timeout,
                log=log,
            )
    tag_latest(image, FLOWER_REPOSITORY)
    return tag


def build_all(client: docker.DockerClient, inputs: BuildInputs) -> dict[str, str]:
    """Every image of the compose stack but the sandbox's (`burndown sandbox build` makes it)."""
    if find_image(client, f"{SANDBOX_REPOSITORY}:{LATEST}") is None:
        _log("note: no burndown-sandbox:latest yet; runs need it (`burndown sandbox build`)")
    control_plane = build_control_plane_image(client, ROOT, inputs, log=_log).tag
    tags = {
        "control-plane": control_plane,
        "services": build_services_image(client, inputs),
        "flower": build_flower_image(client, inputs, control_plane),
    }
    # Each code change makes a new Flower image (it sits on the control-plane image).
    for repository in (FLOWER_REPOSITORY, SERVICES_REPOSITORY):
        for tag in remove_stale_images(client, repository):
            _log(f"removed stale {tag}")
    return tags


def main() -> None:
    """Build the images and print their tags as JSON."""
    with cache_lock(BuildInputs().cache_dir / "locks" / "compose-images.lock", timeout=3600):
        tags = build_all(docker_client(timeout=1800), BuildInputs())
    print(json.dumps(tags, indent=1))


if __name__ == "__main__":
    main()
