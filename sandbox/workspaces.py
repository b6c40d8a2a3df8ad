"""How a sandbox's folders (`ContainerSpec.mounts`) get into and out of its container.

`bind`: each host folder is bind-mounted, as on one host where the engine sees this machine's
paths. `copy`: for an engine on another machine (`DOCKER_HOST=tcp://...` or `ssh://...`),
which cannot see them: each target is an anonymous volume of the container (removed with it),
filled through the Docker API before the start (`put_archive`, a tar streamed from a temporary
file, owned by the sandbox user), and a writable one is read back after the exit
(`get_archive`) and becomes the host folder again, deletions included.

What comes back is the sandbox's output, untrusted: `sandbox.tree_archive` extracts it into a
fresh folder beside the host's, refusing any path that would leave it and any archive larger
than the bound, and only then swaps it in. The host never trusts its content beyond that: the
worker hashes the tree itself (see `worker.git`).
"""

import os
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from docker.models.containers import Container
from docker.types import Mount as DockerMount

from sandbox.docker_client import translate_docker_errors
from sandbox.errors import SandboxError
from sandbox.runtime import ContainerSpec, Mount, WorkspaceMode
from sandbox.tree_archive import extract_tree

DEFAULT_MAX_BYTES = 2 * 1024**3
"""The largest archive a sandbox may hand back per folder (its files plus tar's headers)."""


class Workspaces(Protocol):
    """Moves a spec's folders into and out of its container."""

    def create_args(self, spec: ContainerSpec) -> dict[str, Any]:
        """Keyword arguments for `containers.create` that give the container its folders."""
        ...

    def put(self, container: Container, spec: ContainerSpec) -> None:
        """Fill the created (not yet started) container's folders."""
        ...

    def take(self, container: Container, spec: ContainerSpec) -> None:
        """After the exit: the writable folders back onto the host."""
        ...


class BindWorkspaces:
    """Host folders bind-mounted: the engine runs on this machine and sees its paths."""

    def create_args(self, spec: ContainerSpec) -> dict[str, Any]:
        binds = {
            str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
            for m in spec.mounts
        }
        return {"volumes": binds}

    def put(self, container: Container, spec: ContainerSpec) -> None:
        return None

    def take(self, container: Container, spec: ContainerSpec) -> None:
        return None


class CopyWorkspaces:
    """Folders copied in and out through the Docker API, for an engine on another machine.

    A read-only mount is copied in and never read back: whatever the sandbox did to its copy
    is dropped with the container's volume."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes

    def create_args(self, spec: ContainerSpec) -> dict[str, Any]:
        for m in spec.mounts:
            if not m.source.is_dir():
                raise SandboxError(f"only folders can be copied into a sandbox: {m.source}")
        # No source: an anonymous volume, removed with the container (`remove(v=True)`).
        return {
            "mounts": [
                DockerMount(target=m.target, source=None, type="volume") for m in spec.mounts
            ]
        }

    def put(self, container: Container, spec: ContainerSpec) -> None:
        for m in spec.mounts:
            with tempfile.TemporaryFile() as archive:
                _tar_folder(m.source, archive, spec.user)
                archive.seek(0)
                with translate_docker_errors(f"cannot copy {m.source} into the sandbox"):
                    if not container.put_archive(m.target, archive):
                        raise SandboxError(f"the engine refused the copy of {m.source}")

    def take(self, container: Container, spec: ContainerSpec) -> None:
        for m in spec.mounts:
            if not m.read_only:
                self._take_one(container, m)

    def _take_one(self, container: Container, m: Mount) -> None:
        host = m.source
        staging = host.with_name(f".{host.name}.from-sandbox-{uuid.uuid4().hex[:8]}")
        try:
            with (
                translate_docker_errors(f"cannot copy {m.target} out of the sandbox"),
                _archive_of(container, m.target) as chunks,
            ):
                extract_tree(chunks, staging, Path(m.target).name, self._max_bytes)
            _swap(host, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def workspaces(mode: WorkspaceMode, max_bytes: int = DEFAULT_MAX_BYTES) -> Workspaces:
    """The strategy of `mode`."""
    if mode == "bind":
        return BindWorkspaces()
    if mode == "copy":
        return CopyWorkspaces(max_bytes)
    raise SandboxError(f"unknown workspace mode {mode!r}: bind or copy")


@contextmanager
def _archive_of(container: Container, path: str) -> Iterator[Iterator[bytes]]:
    """The tar of `path` in the container, as it streams; the response is closed on the way
    out, also when the reader stops early (a refused archive): the engine holds the container
    while it sends one. docker-py's `get_archive` would neither close it nor keep a timeout."""
    api = container.client.api  # type: ignore[union-attr]
    url = f"{api.base_url}/v{api.api_version}/containers/{container.id}/archive"
    response = api.get(url, params={"path": path}, stream=True, timeout=api.timeout)
    with response:
        response.raise_for_status()
        yield response.iter_content(1024 * 1024)


def _tar_folder(folder: Path, out: Any, user: str) -> None:
    """`folder`'s tree as a tar at `.`, every entry owned by the sandbox's `uid:gid`; symlinks
    stay links (never followed), modes as they are."""
    try:
        uid, gid = (int(x) for x in [*user.split(":", 1), user][:2])
    except ValueError as exc:
        raise SandboxError(f"copying needs a numeric sandbox user uid:gid, not {user!r}") from exc

    def owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
        return info

    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(str(folder), arcname=".", recursive=True, filter=owned)


def _swap(host: Path, staging: Path) -> None:
    """Put `staging` where `host` is, by two renames on the same filesystem; the old tree goes."""
    old = host.with_name(f".{host.name}.before-sandbox-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(host, old)
        try:
            os.rename(staging, host)
        except OSError:
            os.rename(old, host)
            raise
    except OSError as exc:
        raise SandboxError(f"cannot put the sandbox's tree back at {host}: {exc}") from exc
    shutil.rmtree(old, ignore_errors=True)
