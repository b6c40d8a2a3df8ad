"""What decides the images' content (`BuildInputs`, the pinned harnesses), what a build returns,
and the content hashes the tags are made of.

Tags are content addresses: the same inputs always hash to the same tag.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

BASE_REPOSITORY = "burndown-base"
SANDBOX_REPOSITORY = "burndown-sandbox"
CONTROL_PLANE_REPOSITORY = "burndown-control-plane"
LATEST = "latest"

LABEL_PREFIX = "org.burndown"
LABEL_KIND = f"{LABEL_PREFIX}.image"
HARNESS_LABEL_PREFIX = f"{LABEL_PREFIX}.harness."
WHEEL_LABEL_PREFIX = f"{LABEL_PREFIX}.wheel."

#: Debian packages of the base root filesystem, shared by the sandbox and the control plane.
DEFAULT_PACKAGES: tuple[str, ...] = (
    "ca-certificates",
    "git",
    "procps",
    "python3",
    "python3-venv",
)

#: The pinned harness wheels: PyPI package -> version.
DEFAULT_HARNESS_WHEELS: Mapping[str, str] = {
    "claude-agent-sdk": "0.2.187",
    "openai-codex-cli-bin": "0.163.0",
}

#: Harnesses installed as a Python venv each (`/opt/<harness>`), from a fully pinned lock.
DEFAULT_PYTHON_HARNESSES: tuple[str, ...] = ("aider", "mini-swe-agent")

#: Bump when the way images are made changes, so that old tags are not reused.
IMAGE_FORMAT = 1


@dataclass(frozen=True)
class HarnessBinary:
    """Where a harness CLI lives inside its PyPI wheel, and what it is called in the image."""

    harness: str
    """Burndown's name of the harness, used in the version label (`claude-code`)."""
    member: str
    """Path of the executable inside the wheel."""
    binary: str
    """File name under `bin/` in the build context and `/usr/local/bin` in the image."""

    @property
    def version_build_arg(self) -> str:
        """The Dockerfile build argument carrying the harness version (`CLAUDE_CODE_VERSION`)."""
        return build_arg_name(self.harness)


def build_arg_name(name: str) -> str:
    """`claude-agent-sdk` -> `CLAUDE_AGENT_SDK_VERSION`: a build argument carrying a version."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).upper() + "_VERSION"


#: The wheels Burndown knows how to take a harness binary out of.
KNOWN_HARNESS_WHEELS: Mapping[str, HarnessBinary] = {
    "claude-agent-sdk": HarnessBinary("claude-code", "claude_agent_sdk/_bundled/claude", "claude"),
    "openai-codex-cli-bin": HarnessBinary("codex", "codex_cli_bin/bin/codex", "codex"),
}


@dataclass(frozen=True)
class PythonHarness:
    """A harness installed from PyPI into its own venv `/opt/<harness>` in the image, from the
    lock `infra/sandbox/requirements/<harness>.txt` (every dependency pinned)."""

    harness: str
    """Burndown's name of the harness; also the venv's folder and the lock's file name."""
    package: str
    """The PyPI package whose pinned version is the harness version label."""
    entry_points: tuple[str, ...]
    """Console scripts linked into `/usr/local/bin`."""


#: The Python harnesses Burndown knows how to install.
KNOWN_PYTHON_HARNESSES: Mapping[str, PythonHarness] = {
    "mini-swe-agent": PythonHarness("mini-swe-agent", "mini-swe-agent", ("mini",)),
    "aider": PythonHarness("aider", "aider-chat", ("aider",)),
}


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/burndown`, else `~/.cache/burndown`."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "burndown"


def default_project_root() -> Path:
    """The source checkout this package was loaded from (it holds `infra/` and `Dockerfile`)."""
    return Path(__file__).resolve().parents[2]


def default_requirements_dir() -> Path:
    """`infra/sandbox/requirements` of the source checkout: one lock per Python harness."""
    return default_project_root() / "infra" / "sandbox" / "requirements"


def default_sandbox_dockerfile() -> Path:
    """`infra/sandbox/Dockerfile` of the source checkout this module was loaded from."""
    return default_project_root() / "infra" / "sandbox" / "Dockerfile"


class BuildInputs(BaseModel):
    """Everything that decides what the images contain, plus where the caches live."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suite: str = "bookworm"
    """Debian suite of the base root filesystem."""
    arch: str = "amd64"
    """Debian architecture; the wheels are fetched for the matching manylinux machine."""
    packages: tuple[str, ...] = DEFAULT_PACKAGES
    """Debian packages added to the minbase root filesystem."""
    mirror: str | None = None
    """Debian mirror URL; `None` reads it from the host's apt sources (`apt_dir`)."""
    apt_dir: Path = Path("/etc/apt")
    """Where the host's apt configuration lives (to find the mirror and its keyring)."""
    harness_wheels: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_HARNESS_WHEELS))
    """Pinned harness wheels, PyPI name -> version; each must be in `KNOWN_HARNESS_WHEELS`."""
    python_harnesses: tuple[str, ...] = DEFAULT_PYTHON_HARNESSES
    """Python harnesses installed as venvs; each must be in `KNOWN_PYTHON_HARNESSES`."""
    requirements_dir: Path = Field(default_factory=default_requirements_dir)
    """Where the Python harnesses' locks (`<harness>.txt`) live."""
    python_version: str = "3.11"
    """Python version the wheels are fetched for (Debian bookworm's python3 is 3.11)."""
    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Root of the build caches (root filesystem, wheels, extracted binaries)."""
    sandbox_dockerfile: Path = Field(default_factory=default_sandbox_dockerfile)
    """The sandbox image's Dockerfile."""
    rootfs_timeout: float = 1800.0
    """Seconds allowed for debootstrap and for tarring the result."""
    download_timeout: float = 900.0
    """Seconds allowed for one `pip download`, `uv export` or `uv build`."""
    docker_build_timeout: int = 1800
    """Seconds allowed for one `docker build` request."""


class ImageRef(BaseModel):
    """A built (or reused) image."""

    tag: str
    """The content-addressed tag, `repository:<hash>`."""
    image_id: str
    built: bool
    """True when this call built it; False when the tag for these inputs already existed."""
    size_bytes: int
    labels: dict[str, str] = Field(default_factory=dict)


class ImageStatus(BaseModel):
    """What the sandbox image holds, and whether it is the one the current inputs make."""

    expected_tag: str | None
    """Tag the current inputs make; `None` when the base image for them is not built yet."""
    current: bool
    """True when `expected_tag` exists."""
    tag: str | None
    """The image described below: `expected_tag` if present, else `burndown-sandbox:latest`."""
    image_id: str | None = None
    created: str | None = None
    size_bytes: int | None = None
    harness_versions: dict[str, str] = Field(default_factory=dict)
    """Harness -> version reported by its binary at build time (e.g. `claude-code: 2.1.330`)."""
    wheel_versions: dict[str, str] = Field(default_factory=dict)
    """Harness wheel -> pinned version the image was built from."""


def short_hash(payload: object, length: int = 16) -> str:
    """A stable hex digest of a JSON-serialisable value (keys sorted), cut to `length` chars."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_sha256(path: Path) -> str:
    """The SHA-256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
