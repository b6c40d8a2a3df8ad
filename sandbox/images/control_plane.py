"""The control-plane image `burndown-control-plane:<hash>`: the project's top-level `Dockerfile` on
the base image, from the locked dependencies downloaded as wheels on the host plus a wheel of the
project (`burndown sandbox build --control-plane`)."""

from __future__ import annotations

import shutil
import tempfile
from functools import partial
from pathlib import Path

import docker

from sandbox.docker_client import remove_resource, translate_docker_errors
from sandbox.errors import ImageError, SandboxError
from sandbox.images.base_image import ensure_base_image
from sandbox.images.docker_build import (
    docker_build,
    find_image,
    image_ref,
    read_dockerfile,
    tag_latest,
)
from sandbox.images.host import LogFn, cache_lock, link_or_copy, no_log, run_command
from sandbox.images.inputs import (
    CONTROL_PLANE_REPOSITORY,
    IMAGE_FORMAT,
    LATEST,
    BuildInputs,
    ImageRef,
    file_sha256,
    short_hash,
)
from sandbox.images.wheels import (
    manylinux_machine,
    pip_download,
    requirements_to_download,
    uv_binary,
)


def fetch_control_plane_wheels(
    project_root: Path, inputs: BuildInputs, *, log: LogFn = no_log
) -> Path:
    """A cache folder holding `requirements.txt` (the locked runtime dependencies, from
    `uv export --no-dev --frozen --no-hashes --no-emit-project`) and their wheels for the image's
    platform, downloaded on the host. Keyed by the exported text; reused when complete."""
    uv = uv_binary()
    if uv is None:
        raise ImageError("uv is not installed; it exports the locked requirements")
    exported = run_command(
        [
            uv,
            "export",
            "--no-dev",
            "--frozen",
            "--no-hashes",
            "--no-emit-project",
            "--no-header",
            "--no-annotate",
        ],
        cwd=project_root,
        timeout=inputs.download_timeout,
        what="uv export",
    )
    machine = manylinux_machine(inputs)
    wanted = requirements_to_download(exported, inputs)
    key = short_hash({"requirements": exported, "python": inputs.python_version, "arch": machine})
    slot = inputs.cache_dir / "control-plane" / key
    done_marker = slot / ".complete"
    lock = inputs.cache_dir / "locks" / f"control-plane-{key}.lock"
    with cache_lock(lock, timeout=inputs.download_timeout):
        if not done_marker.is_file():
            pip_download(
                inputs,
                wanted,
                slot,
                platforms=[f"manylinux2014_{machine}", f"manylinux_2_28_{machine}"],
                log=log,
            )
            (slot / "requirements.txt").write_text(exported)
            done_marker.write_text("ok\n")
        else:
            log(f"control-plane wheels: reusing {slot}")
    return slot


def build_project_wheel(project_root: Path, out_dir: Path, inputs: BuildInputs) -> Path:
    """`uv build --wheel` of the project into `out_dir`; returns the wheel's path."""
    uv = uv_binary()
    if uv is None:
        raise ImageError("uv is not installed; it builds the project wheel")
    out_dir.mkdir(parents=True, exist_ok=True)
    run_command(
        [uv, "build", "--wheel", "--out-dir", str(out_dir), str(project_root)],
        cwd=project_root,
        timeout=inputs.download_timeout,
        what="uv build",
    )
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise ImageError(f"uv build produced {len(wheels)} wheels in {out_dir}, expected one")
    return wheels[0]


def build_control_plane_image(
    client: docker.DockerClient,
    project_root: Path,
    inputs: BuildInputs,
    *,
    log: LogFn = no_log,
) -> ImageRef:
    """Build (or reuse) the control-plane image `burndown-control-plane:<hash>` (and `:latest`)
    from `<project_root>/Dockerfile` on the base image.

    The build context holds the Dockerfile, `wheels/` (the locked dependency wheels and their
    `requirements.txt`) and `dist/` (a wheel of the project). The hash covers the Dockerfile, the
    base image id and every wheel's SHA-256, so any change of code or locked dependency makes a new
    tag; Docker's layer cache keeps the dependency layers when only the code changed.
    """
    dockerfile = project_root / "Dockerfile"
    dockerfile_text = read_dockerfile(dockerfile)
    base_tag = ensure_base_image(client, inputs, log=log)
    base = find_image(client, base_tag)
    if base is None:
        raise ImageError(f"base image {base_tag} vanished")
    deps = fetch_control_plane_wheels(project_root, inputs, log=log)
    with tempfile.TemporaryDirectory(prefix="burndown-control-plane-") as tmp:
        context = Path(tmp)
        wheels_dir = context / "wheels"
        project_wheel = build_project_wheel(project_root, context / "dist", inputs)
        for wheel in sorted(deps.glob("*.whl")):
            link_or_copy(wheel, wheels_dir / wheel.name)
        shutil.copyfile(deps / "requirements.txt", wheels_dir / "requirements.txt")
        (context / "Dockerfile").write_text(dockerfile_text)
        payload = {
            "format": IMAGE_FORMAT,
            "dockerfile": dockerfile_text,
            "base": str(base.id),
            "requirements": (deps / "requirements.txt").read_text(),
            "wheels": {w.name: file_sha256(w) for w in sorted(wheels_dir.glob("*.whl"))},
            "project": {project_wheel.name: file_sha256(project_wheel)},
        }
        tag = f"{CONTROL_PLANE_REPOSITORY}:{short_hash(payload)}"
        existing = find_image(client, tag)
        if existing is not None:
            log(f"control-plane image: {tag} is current")
            tag_latest(existing, CONTROL_PLANE_REPOSITORY)
            return image_ref(existing, tag, built=False)
        image = docker_build(
            client,
            context,
            tag,
            buildargs={"BASE_IMAGE": base_tag},
            timeout=inputs.docker_build_timeout,
            log=log,
        )
    tag_latest(image, CONTROL_PLANE_REPOSITORY)
    return image_ref(image, tag, built=True)


def remove_stale_images(client: docker.DockerClient, repository: str) -> list[str]:
    """Untag every `repository:<hash>` tag whose image `repository:latest` does not point to
    (each code change makes a new control-plane tag). Images still used by a container are kept.
    Returns the tags removed."""
    latest = find_image(client, f"{repository}:{LATEST}")
    keep_id = str(latest.id) if latest is not None else None
    removed: list[str] = []
    with translate_docker_errors(f"cannot list {repository} images", error=ImageError):
        images = client.images.list(name=repository)
    for image in images:
        if str(image.id) == keep_id:
            continue
        for tag in image.tags:
            if not tag.startswith(f"{repository}:"):
                continue
            try:
                if remove_resource(partial(client.images.remove, tag, noprune=False), tag):
                    removed.append(tag)
            except SandboxError:
                continue  # in use by a container: kept
    return removed
