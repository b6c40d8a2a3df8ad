"""Toolchain images `burndown-toolchain-<name>:<hash>`: the sandbox image (so every harness CLI
still runs in it) plus a language toolchain from Debian's packages and the operator's extra CA
certificates, built offline.

The toolchain's packages are debootstrapped together with the base packages (a cached root
filesystem like the base's); the files they add or change over the base root filesystem become
one layer on top of the sandbox image (`rootfs_delta`). The image also gets the extra CAs in
its trust store, the variables pointing every tool at it (`sandbox.ca_trust.TRUST_ENV`), and a
writable-at-build-time `/opt/env` where an environment's setup installs what a repository needs
(a Python venv, npm's modules, Go's module cache, Cargo's registry): outside the home folder
and `/tmp`, which are tmpfs in every sandbox, so that a committed environment keeps it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from pydantic import BaseModel, Field

from sandbox.ca_trust import TRUST_ENV, CaCertificate, cas_digest
from sandbox.errors import ImageError
from sandbox.images.docker_build import docker_build, find_image, image_ref, tag_latest
from sandbox.images.host import LogFn, cache_lock, link_or_copy, no_log
from sandbox.images.inputs import LABEL_KIND, LABEL_PREFIX, BuildInputs, ImageRef, short_hash
from sandbox.images.rootfs import build_base_rootfs, resolve_mirror, rootfs_key
from sandbox.images.rootfs_delta import write_delta
from sandbox.images.sandbox_image import build_sandbox_image

TOOLCHAIN_REPOSITORY_PREFIX = "burndown-toolchain-"
TOOLCHAIN_LABEL = f"{LABEL_PREFIX}.toolchain"
CA_LABEL = f"{LABEL_PREFIX}.ca"
ENV_ROOT = "/opt/env"
"""Where an environment's setup installs; owned by the sandbox user, kept by a commit."""

#: Bump when the way toolchain images are made changes, so that old tags are not reused.
TOOLCHAIN_FORMAT = 1

_PATH = (
    f"{ENV_ROOT}/venv/bin:{ENV_ROOT}/node_modules/.bin:{ENV_ROOT}/cargo/bin:{ENV_ROOT}/go/bin:"
    "/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)


@dataclass(frozen=True)
class Toolchain:
    """A language toolchain: the Debian packages it adds, and the environment its tools need."""

    name: str
    packages: tuple[str, ...]
    env: Mapping[str, str]


#: Every variable points the tools' writable state at `/opt/env` (kept by an environment) or at
#: `/tmp` (a tmpfs in every sandbox), never at the read-only root.
TOOLCHAINS: Mapping[str, Toolchain] = {
    "python": Toolchain(
        "python",
        ("python3-pip", "python3-pytest"),
        {"VIRTUAL_ENV": f"{ENV_ROOT}/venv", "PIP_NO_CACHE_DIR": "1"},
    ),
    "node": Toolchain(
        "node",
        ("nodejs", "npm"),
        {"NPM_CONFIG_CACHE": "/tmp/npm-cache", "NPM_CONFIG_UPDATE_NOTIFIER": "false"},
    ),
    "go": Toolchain(
        "go",
        ("golang-go",),
        {
            "GOPATH": f"{ENV_ROOT}/go",
            "GOMODCACHE": f"{ENV_ROOT}/go/pkg/mod",
            "GOCACHE": "/tmp/go-build",
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod",
            "GOTELEMETRY": "off",
        },
    ),
    "rust": Toolchain(
        "rust",
        ("cargo", "rustc"),
        {"CARGO_HOME": f"{ENV_ROOT}/cargo", "CARGO_TARGET_DIR": "/tmp/cargo-target"},
    ),
}


def toolchain_names() -> list[str]:
    """The toolchains Burndown can build, sorted."""
    return sorted(TOOLCHAINS)


def get_toolchain(name: str) -> Toolchain:
    """The toolchain called `name`; `ImageError` listing the valid names otherwise."""
    try:
        return TOOLCHAINS[name]
    except KeyError:
        raise ImageError(
            f"unknown toolchain {name!r}; valid: {', '.join(toolchain_names())}"
        ) from None


def toolchain_repository(name: str) -> str:
    """`burndown-toolchain-python`."""
    return f"{TOOLCHAIN_REPOSITORY_PREFIX}{name}"


def _env_lines(toolchain: Toolchain, cas: Sequence[CaCertificate]) -> str:
    env = {"PATH": _PATH, **toolchain.env, **(TRUST_ENV if cas else {})}
    return " \\\n    ".join(f'{k}="{v}"' for k, v in sorted(env.items()))


def toolchain_dockerfile(toolchain: Toolchain, cas: Sequence[CaCertificate]) -> str:
    """The Dockerfile of a toolchain image, on the sandbox image given as `SANDBOX_IMAGE`."""
    return (
        "ARG SANDBOX_IMAGE\n"
        "FROM ${SANDBOX_IMAGE}\n"
        "USER root\n"
        "ADD toolchain.tar /\n"
        "COPY ca/ /usr/local/share/ca-certificates/burndown/\n"
        "RUN set -eu; ldconfig; update-ca-certificates >/dev/null; \\\n"
        f"    mkdir -p {ENV_ROOT}/node_modules {ENV_ROOT}/home; \\\n"
        f"    python3 -m venv --system-site-packages {ENV_ROOT}/venv; \\\n"
        f"    ln -s {ENV_ROOT}/node_modules /node_modules; \\\n"
        f"    chown -R 1000:1000 {ENV_ROOT}\n"
        f"ENV {_env_lines(toolchain, cas)}\n"
        f'LABEL {LABEL_KIND}="toolchain" {TOOLCHAIN_LABEL}="{toolchain.name}" '
        f'{CA_LABEL}="{cas_digest(cas)}"\n'
        "USER 1000:1000\n"
    )


def _rootfs_inputs(inputs: BuildInputs, toolchain: Toolchain) -> BuildInputs:
    packages = tuple(dict.fromkeys((*inputs.packages, *toolchain.packages)))
    return inputs.model_copy(update={"packages": packages})


def toolchain_image_tag(
    inputs: BuildInputs, toolchain: Toolchain, sandbox_image_id: str, cas: Sequence[CaCertificate]
) -> str:
    """`burndown-toolchain-<name>:<hash>`, the hash covering the sandbox image's id, the
    toolchain's root filesystem, the Dockerfile (its environment) and the CA certificates."""
    mirror = resolve_mirror(inputs)
    full = _rootfs_inputs(inputs, toolchain)
    payload = {
        "format": TOOLCHAIN_FORMAT,
        "sandbox": sandbox_image_id,
        "rootfs": rootfs_key(full.suite, full.packages, mirror.uri, full.arch),
        "dockerfile": toolchain_dockerfile(toolchain, cas),
        "cas": cas_digest(cas),
    }
    return f"{toolchain_repository(toolchain.name)}:{short_hash(payload)}"


def _delta(inputs: BuildInputs, toolchain: Toolchain, log: LogFn) -> Path:
    """`toolchain.tar` next to the toolchain's cached root filesystem: what it adds to the base."""
    base_tar = build_base_rootfs(inputs, log=log)
    full_tar = build_base_rootfs(_rootfs_inputs(inputs, toolchain), log=log)
    delta = full_tar.with_name(f"delta-{base_tar.parent.name}.tar")
    if delta.is_file():
        return delta
    with cache_lock(full_tar.parent / "delta.lock", timeout=inputs.rootfs_timeout):
        if not delta.is_file():
            started = time.monotonic()
            count = write_delta(base_tar, full_tar, delta)
            took = time.monotonic() - started
            log(f"toolchain {toolchain.name}: {count} files over the base ({took:.0f} s)")
    return delta


def build_toolchain_image(
    client: docker.DockerClient,
    inputs: BuildInputs,
    name: str,
    cas: Sequence[CaCertificate],
    *,
    log: LogFn = no_log,
) -> ImageRef:
    """Build (or reuse) `burndown-toolchain-<name>:<hash>` on the current sandbox image (built
    first if needed), and point its `:latest` at it."""
    toolchain = get_toolchain(name)
    sandbox = build_sandbox_image(client, inputs, log=log)
    tag = toolchain_image_tag(inputs, toolchain, sandbox.image_id, cas)
    repository = toolchain_repository(name)
    existing = find_image(client, tag)
    if existing is not None:
        log(f"toolchain image: {tag} is current")
        tag_latest(existing, repository)
        return image_ref(existing, tag, built=False)
    delta = _delta(inputs, toolchain, log)
    with tempfile.TemporaryDirectory(prefix="burndown-toolchain-") as tmp:
        context = Path(tmp)
        (context / "Dockerfile").write_text(toolchain_dockerfile(toolchain, cas))
        link_or_copy(delta, context / "toolchain.tar")
        (context / "ca").mkdir()
        for ca in cas:
            (context / "ca" / ca.name).write_bytes(ca.pem)
        image = docker_build(
            client,
            context,
            tag,
            buildargs={"SANDBOX_IMAGE": sandbox.tag},
            timeout=inputs.docker_build_timeout,
            log=log,
        )
    tag_latest(image, repository)
    return image_ref(image, tag, built=True)


class ToolchainStatus(BaseModel):
    """Whether a toolchain's image for the current inputs exists."""

    toolchain: str
    packages: list[str]
    expected_tag: str | None
    """`None` when the sandbox image it would be built on does not exist yet."""
    current: bool
    image_id: str | None = None
    size_bytes: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)


def check_toolchain_images(
    client: docker.DockerClient, inputs: BuildInputs, cas: Sequence[CaCertificate], sandbox_tag: str
) -> list[ToolchainStatus]:
    """Each toolchain's image status on the sandbox image `sandbox_tag`, building nothing."""
    sandbox = find_image(client, sandbox_tag)
    found: list[ToolchainStatus] = []
    for name in toolchain_names():
        toolchain = TOOLCHAINS[name]
        tag = toolchain_image_tag(inputs, toolchain, str(sandbox.id), cas) if sandbox else None
        image = find_image(client, tag) if tag else None
        attrs: dict[str, Any] = image.attrs if image is not None else {}
        found.append(
            ToolchainStatus(
                toolchain=name,
                packages=list(toolchain.packages),
                expected_tag=tag,
                current=image is not None,
                image_id=str(image.id) if image is not None else None,
                size_bytes=int(attrs.get("Size") or 0) if image is not None else None,
                labels=dict(image.labels or {}) if image is not None else {},
            )
        )
    return found
