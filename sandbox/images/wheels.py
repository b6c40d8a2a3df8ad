"""Wheels downloaded on the host (no build reaches an index): the pinned harness wheels and the
binaries taken out of them, the wheels of each Python harness's lock, and the `pip`/`uv` calls
that fetch them. Caches live under `BuildInputs.cache_dir`; every failure is an `ImageError`.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from sandbox.errors import ImageError
from sandbox.images.host import LogFn, cache_lock, no_log, run_command
from sandbox.images.inputs import (
    KNOWN_HARNESS_WHEELS,
    KNOWN_PYTHON_HARNESSES,
    BuildInputs,
    HarnessBinary,
    PythonHarness,
    short_hash,
)

_ARCH_TO_WHEEL_MACHINE = {"amd64": "x86_64", "arm64": "aarch64"}
_VERSION_RE = re.compile(r"\d+\.\d+(?:\.\d+)?(?:[-+.][0-9A-Za-z.]+)?")

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
    machine = manylinux_machine(inputs)
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


def manylinux_machine(inputs: BuildInputs) -> str:
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
    uv = uv_binary()
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


def uv_binary() -> str | None:
    from_env = os.environ.get("UV")
    if from_env and Path(from_env).is_file():
        return from_env
    return shutil.which("uv")


def pip_download(
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


def find_wheel(directory: Path, name: str, version: str) -> Path | None:
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


def harness_specs(inputs: BuildInputs) -> dict[str, HarnessBinary]:
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
    harness_specs(inputs)
    dest = inputs.cache_dir / "wheels"
    with cache_lock(inputs.cache_dir / "locks" / "wheels.lock", timeout=inputs.download_timeout):
        missing = [
            f"{name}=={version}"
            for name, version in sorted(inputs.harness_wheels.items())
            if find_wheel(dest, name, version) is None
        ]
        if missing:
            machine = manylinux_machine(inputs)
            platforms = [f"manylinux_2_17_{machine}"]
            pip_download(inputs, missing, dest, platforms=platforms, log=log)
    for name, version in inputs.harness_wheels.items():
        if find_wheel(dest, name, version) is None:
            raise ImageError(f"pip download did not produce a wheel for {name}=={version}")
    return dest


def python_harnesses(inputs: BuildInputs) -> list[PythonHarness]:
    out: list[PythonHarness] = []
    for name in sorted(inputs.python_harnesses):
        spec = KNOWN_PYTHON_HARNESSES.get(name)
        if spec is None:
            known = ", ".join(sorted(KNOWN_PYTHON_HARNESSES))
            raise ImageError(f"unknown Python harness {name!r}; known: {known}")
        out.append(spec)
    return out


def read_lock(inputs: BuildInputs, spec: PythonHarness) -> str:
    path = inputs.requirements_dir / f"{spec.harness}.txt"
    try:
        return path.read_text()
    except OSError as exc:
        raise ImageError(f"cannot read the lock of {spec.harness}: {exc}") from exc


def pinned_version(inputs: BuildInputs, spec: PythonHarness) -> str:
    wanted = canonicalize_name(spec.package)
    for line in requirements_to_download(read_lock(inputs, spec), inputs):
        req = Requirement(line)
        if canonicalize_name(req.name) == wanted:
            pins = [s.version for s in req.specifier if s.operator == "=="]
            if pins:
                return pins[0]
    raise ImageError(f"the lock of {spec.harness} does not pin {spec.package}")


def fetch_venv_wheels(inputs: BuildInputs, spec: PythonHarness, *, log: LogFn = no_log) -> Path:
    """A cache folder with every wheel of a Python harness's lock for the image's platform,
    downloaded on the host (the build reaches no index). Keyed by the lock's text."""
    lock = read_lock(inputs, spec)
    machine = manylinux_machine(inputs)
    key = short_hash({"lock": lock, "python": inputs.python_version, "arch": machine})
    slot = inputs.cache_dir / "venv-wheels" / f"{spec.harness}-{key}"
    done_marker = slot / ".complete"
    with cache_lock(
        inputs.cache_dir / "locks" / f"venv-{spec.harness}-{key}.lock",
        timeout=inputs.download_timeout,
    ):
        if not done_marker.is_file():
            pip_download(
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
class ExtractedHarness:
    package: str
    package_version: str
    spec: HarnessBinary
    path: Path
    version: str


def extract_harness(
    wheel: Path, package: str, version: str, spec: HarnessBinary, cache_dir: Path
) -> ExtractedHarness:
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
    return ExtractedHarness(
        package=package,
        package_version=version,
        spec=spec,
        path=binary,
        version=version_file.read_text().strip(),
    )
