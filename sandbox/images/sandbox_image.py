"""The sandbox image `burndown-sandbox:<hash>` the harnesses run in: `infra/sandbox/Dockerfile`
on the base image, with the harness binaries and the Python harnesses' venvs, built offline."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import docker
from packaging.utils import canonicalize_name

from sandbox.errors import ImageError
from sandbox.images.base_image import base_image_tag, ensure_base_image
from sandbox.images.docker_build import (
    docker_build,
    find_image,
    image_ref,
    read_dockerfile,
    tag_latest,
)
from sandbox.images.host import LogFn, link_or_copy, no_log
from sandbox.images.inputs import (
    HARNESS_LABEL_PREFIX,
    IMAGE_FORMAT,
    LATEST,
    SANDBOX_REPOSITORY,
    WHEEL_LABEL_PREFIX,
    BuildInputs,
    ImageRef,
    ImageStatus,
    build_arg_name,
    short_hash,
)
from sandbox.images.wheels import (
    ExtractedHarness,
    extract_harness,
    fetch_venv_wheels,
    fetch_wheels,
    find_wheel,
    harness_specs,
    pinned_version,
    python_harnesses,
    read_lock,
)


def sandbox_image_tag(inputs: BuildInputs, base_image_id: str) -> str:
    """`burndown-sandbox:<hash>`, the hash covering the Dockerfile, the base image id and the
    harness wheels' names, versions and binary paths."""
    specs = harness_specs(inputs)
    payload = {
        "format": IMAGE_FORMAT,
        "dockerfile": read_dockerfile(inputs.sandbox_dockerfile),
        "base": base_image_id,
        "wheels": {canonicalize_name(n): v for n, v in inputs.harness_wheels.items()},
        "binaries": {canonicalize_name(n): [s.member, s.binary] for n, s in specs.items()},
        "venvs": {
            h.harness: [read_lock(inputs, h), list(h.entry_points)]
            for h in python_harnesses(inputs)
        },
    }
    return f"{SANDBOX_REPOSITORY}:{short_hash(payload)}"


def build_sandbox_image(
    client: docker.DockerClient, inputs: BuildInputs, *, log: LogFn = no_log
) -> ImageRef:
    """Build (or reuse) the sandbox image `burndown-sandbox:<hash>` and point `:latest` at it.

    The build context is a temporary folder with the Dockerfile and `bin/<harness binaries>`
    only. The build arguments `<HARNESS>_VERSION` (what the binary's `--version` says) and
    `<WHEEL>_VERSION` (the pin) feed the Dockerfile's labels, e.g.
    `org.burndown.harness.claude-code=2.1.330` and `org.burndown.wheel.claude-agent-sdk=0.2.187`.
    """
    base_tag = ensure_base_image(client, inputs, log=log)
    base = find_image(client, base_tag)
    if base is None:
        raise ImageError(f"base image {base_tag} vanished")
    tag = sandbox_image_tag(inputs, str(base.id))
    existing = find_image(client, tag)
    if existing is not None:
        log(f"sandbox image: {tag} is current")
        tag_latest(existing, SANDBOX_REPOSITORY)
        return image_ref(existing, tag, built=False)

    wheels = fetch_wheels(inputs, log=log)
    harnesses: list[ExtractedHarness] = []
    for name, spec in harness_specs(inputs).items():
        version = inputs.harness_wheels[name]
        wheel = find_wheel(wheels, name, version)
        if wheel is None:
            raise ImageError(f"wheel {name}=={version} missing from {wheels}")
        harnesses.append(extract_harness(wheel, name, version, spec, inputs.cache_dir))

    venvs = [(h, fetch_venv_wheels(inputs, h, log=log)) for h in python_harnesses(inputs)]
    buildargs = {"BASE_IMAGE": base_tag}
    for h, _slot in venvs:
        buildargs[build_arg_name(h.harness)] = pinned_version(inputs, h)
    for item in harnesses:
        buildargs[item.spec.version_build_arg] = item.version
        buildargs[build_arg_name(canonicalize_name(item.package))] = item.package_version
        source = f"{item.package}=={item.package_version}"
        log(f"harness {item.spec.harness} {item.version} from {source}")

    with tempfile.TemporaryDirectory(prefix="burndown-sandbox-") as tmp:
        context = Path(tmp)
        shutil.copyfile(inputs.sandbox_dockerfile, context / "Dockerfile")
        for item in harnesses:
            link_or_copy(item.path, context / "bin" / item.spec.binary)
        for h, slot in venvs:
            target = context / "venvs" / h.harness
            for wheel in sorted(slot.glob("*.whl")):
                link_or_copy(wheel, target / wheel.name)
            (target / "requirements.txt").write_text(read_lock(inputs, h))
            (target / "entry-points").write_text("\n".join(h.entry_points) + "\n")
        (context / "venvs").mkdir(exist_ok=True)
        image = docker_build(
            client, context, tag, buildargs=buildargs, timeout=inputs.docker_build_timeout, log=log
        )
    tag_latest(image, SANDBOX_REPOSITORY)
    return image_ref(image, tag, built=True)


def check_sandbox_image(client: docker.DockerClient, inputs: BuildInputs) -> ImageStatus:
    """What the sandbox image holds and whether it is current, without building anything."""
    expected: str | None = None
    base = find_image(client, base_image_tag(inputs))
    if base is not None:
        expected = sandbox_image_tag(inputs, str(base.id))
    image = find_image(client, expected) if expected is not None else None
    current = image is not None
    shown = expected if current else f"{SANDBOX_REPOSITORY}:{LATEST}"
    if image is None:
        image = find_image(client, f"{SANDBOX_REPOSITORY}:{LATEST}")
    if image is None:
        return ImageStatus(expected_tag=expected, current=False, tag=None)
    labels: dict[str, str] = dict(image.labels or {})
    attrs: dict[str, Any] = image.attrs
    return ImageStatus(
        expected_tag=expected,
        current=current,
        tag=shown,
        image_id=str(image.id),
        created=attrs.get("Created"),
        size_bytes=int(attrs.get("Size") or 0),
        harness_versions={
            k.removeprefix(HARNESS_LABEL_PREFIX): v
            for k, v in labels.items()
            if k.startswith(HARNESS_LABEL_PREFIX)
        },
        wheel_versions={
            k.removeprefix(WHEEL_LABEL_PREFIX): v
            for k, v in labels.items()
            if k.startswith(WHEEL_LABEL_PREFIX)
        },
    )
