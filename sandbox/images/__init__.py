"""Offline builders of Burndown's images, one module per thing built.

No registry can be reached from here, so nothing is pulled:

1. `rootfs` makes a Debian root filesystem with `debootstrap` from the host's configured Debian
   mirror and tars it; `base_image` turns it into `burndown-base:<hash>`
   (`FROM scratch` + `ADD rootfs.tar /`).
2. `wheels` downloads the pinned harness wheels on the host (`pip download`), takes the harness
   binaries (Claude Code, Codex) out of them and asks them for their `--version`; it also
   downloads every wheel of each Python harness's lock (`infra/sandbox/requirements/<h>.txt`).
3. `sandbox_image` builds `infra/sandbox/Dockerfile` on that base as `burndown-sandbox:<hash>`
   (and `:latest`), and says what the image holds and whether it matches the current inputs.
4. `control_plane` builds the project's top-level `Dockerfile` on the same base, from the locked
   dependencies downloaded as wheels on the host plus a wheel of the project.

`inputs` holds what decides the content (`BuildInputs`) and the hashing; `docker_build` the
Docker steps they share; `host` the subprocess, lock and link helpers. Tags are content
addresses: the hash covers the Dockerfile, the base image's id and the pinned versions (wheel
hashes for the control plane), so the same inputs never make a new tag. Every function takes
explicit arguments, every subprocess has a timeout, and every failure is an `ImageError`.
"""

from sandbox.images.control_plane import build_control_plane_image
from sandbox.images.inputs import (
    CONTROL_PLANE_REPOSITORY,
    DEFAULT_HARNESS_WHEELS,
    SANDBOX_REPOSITORY,
    BuildInputs,
    ImageRef,
    ImageStatus,
)
from sandbox.images.sandbox_image import build_sandbox_image, check_sandbox_image

__all__ = [
    "CONTROL_PLANE_REPOSITORY",
    "DEFAULT_HARNESS_WHEELS",
    "SANDBOX_REPOSITORY",
    "BuildInputs",
    "ImageRef",
    "ImageStatus",
    "build_control_plane_image",
    "build_sandbox_image",
    "check_sandbox_image",
]
