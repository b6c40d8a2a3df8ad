"""Real projects as test material: the source distributions of well-known projects on PyPI
that ship their own test suites, pinned, downloaded once on the host into a cache folder, and
laid out as the files of a repository (for the GitHub stand-in)."""

import tarfile
from pathlib import Path

from sandbox.images.host import cache_lock, run_command
from sandbox.images.inputs import default_cache_dir
from sandbox.images.wheels import pip_command

#: Pure-Python projects whose sdists carry their tests, and what their suites count on
#: Debian's pytest 7.2 in the Python toolchain image (skips are platform checks).
PROJECTS: dict[str, str] = {"six": "1.16.0", "toolz": "0.12.1", "more-itertools": "10.5.0"}


def _norm(text: str) -> str:
    return text.lower().replace("-", "_")


def sdist(name: str, version: str, cache: Path | None = None) -> Path:
    """The sdist `name==version`, downloaded with pip into `<cache>/sdists` unless there."""
    folder = (cache or default_cache_dir()) / "sdists"
    wanted = _norm(f"{name}-{version}.tar.gz")
    with cache_lock(folder / f"{_norm(name)}-{version}.lock", timeout=600):
        for attempt in range(2):
            for path in folder.glob("*.tar.gz"):
                if _norm(path.name) == wanted:
                    return path
            if attempt == 0:
                pip = [*pip_command(), "download", "--no-deps", "--no-binary", ":all:"]
                run_command(
                    [*pip, "-d", str(folder), f"{name}=={version}"],
                    timeout=600,
                    what=f"pip download {name}=={version}",
                )
    raise AssertionError(f"pip download left no sdist of {name}=={version} in {folder}")


def project_files(name: str, version: str, cache: Path | None = None) -> dict[str, str]:
    """The text files of the sdist, by path inside the project (its top folder removed); the
    build's leftovers (`*.egg-info`) are left out, as in the project's repository."""
    files: dict[str, str] = {}
    with tarfile.open(sdist(name, version, cache)) as tar:
        for member in tar:
            parts = member.name.split("/", 1)
            if not member.isfile() or len(parts) < 2 or ".egg-info/" in parts[1] + "/":
                continue
            data = tar.extractfile(member) or None
            if data is None:
                continue
            try:
                files[parts[1]] = data.read().decode()
            except UnicodeDecodeError:
                continue  # a binary file: the stand-in's repositories hold text
    return files
