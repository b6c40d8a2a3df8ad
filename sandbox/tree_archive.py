"""A folder's tar as a sandbox hands it back (Docker's `get_archive`), written to a fresh host
folder without trusting it.

The archive is read as it streams, in bounded memory, and refused whole (`SandboxError`, the
partial folder left for the caller to remove) when it is larger than `max_bytes`, has more
than `MAX_ENTRIES` entries, or names a path outside its root folder: an absolute name, a `..`,
or a path through anything but a folder this extraction made itself, so that a symlink in the
archive can never redirect a later entry. Folders, regular files, symlinks (their targets kept
as they are and never followed) and hard links to files already written are kept, with their
permission bits (setuid, setgid and sticky dropped; the owner may always read and write) and
modification times; the worker's user owns everything. Devices, FIFOs and sockets are dropped.
"""

import io
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sandbox.errors import SandboxError

MAX_ENTRIES = 500_000
_COPY_CHUNK = 1024 * 1024


@dataclass
class Extracted:
    """What an extraction kept and dropped."""

    files: int = 0
    folders: int = 0
    links: int = 0
    dropped: list[str] = field(default_factory=list)


def extract_tree(
    chunks: Iterable[bytes], dest: Path, root: str, max_bytes: int, max_entries: int = MAX_ENTRIES
) -> Extracted:
    """Write the archive's folder `root` (its entries are `root` and `root/...`) as `dest`,
    which must not exist yet."""
    stream = _Bounded(iter(chunks), max_bytes)
    writer = _Writer(dest, root)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for count, member in enumerate(tar, start=1):
                if count > max_entries:
                    raise SandboxError(f"the sandbox's {root} has more than {max_entries} entries")
                writer.write(member, tar)
    except tarfile.TarError as exc:
        raise SandboxError(f"the sandbox's {root} came back as a broken archive: {exc}") from exc
    except OSError as exc:
        raise SandboxError(f"cannot write the sandbox's {root} to {dest}: {exc}") from exc
    writer.finish()
    return writer.done


class _Bounded(io.RawIOBase):
    """A readable over byte chunks that refuses to go past `limit` bytes."""

    def __init__(self, chunks: Iterator[bytes], limit: int) -> None:
        self._chunks, self._limit = chunks, limit
        self._buf = b""
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: "bytearray | memoryview") -> int:  # type: ignore[override]
        while not self._buf:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._read += len(chunk)
            if self._read > self._limit:
                raise SandboxError(f"the sandbox's folder is larger than {self._limit} bytes")
            self._buf = chunk
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class _Writer:
    """Writes members under `dest`, through folders it made itself only."""

    def __init__(self, dest: Path, root: str) -> None:
        self._dest, self._root = dest, root
        self._folders: set[str] = set()
        self._files: set[str] = set()
        self._folder_modes: list[tuple[str, int, float]] = []
        self.done = Extracted()

    def write(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        rel = self._relative(member.name)
        if rel == "":
            if not member.isdir():
                raise SandboxError(f"the sandbox's {self._root} is not a folder")
            os.mkdir(self._dest, 0o700)
            self._folders.add("")
            self._folder_modes.append(("", member.mode, member.mtime))
            return
        parent, _, _ = rel.rpartition("/")
        if parent not in self._folders:
            raise SandboxError(f"the sandbox's {self._root} has {member.name!r} outside a folder")
        path = os.path.join(self._dest, rel)
        if member.isdir():
            os.mkdir(path, 0o700)
            self._folders.add(rel)
            self._folder_modes.append((rel, member.mode, member.mtime))
            self.done.folders += 1
        elif member.isreg():
            self._file(path, member, tar.extractfile(member))
            self._files.add(rel)
            self.done.files += 1
        elif member.issym():
            os.symlink(member.linkname, path)
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
            self.done.links += 1
        elif member.islnk():
            self._hard_link(path, member)
        else:
            self.done.dropped.append(rel)

    def finish(self) -> None:
        """Folder modes and times last (deepest first): a read-only folder was still written."""
        for rel, mode, mtime in reversed(self._folder_modes):
            path = os.path.join(self._dest, rel) if rel else str(self._dest)
            os.chmod(path, (mode & 0o777) | 0o700)
            os.utime(path, (mtime, mtime))

    def _relative(self, name: str) -> str:
        parts = name.rstrip("/").split("/")
        if parts[0] != self._root or any(p in ("", ".", "..") or "\0" in p for p in parts):
            raise SandboxError(f"the sandbox's {self._root} has an entry outside it: {name!r}")
        return "/".join(parts[1:])

    def _file(self, path: str, member: tarfile.TarInfo, data: IO[bytes] | None) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            while data is not None and (block := data.read(_COPY_CHUNK)):
                out.write(block)
        os.chmod(path, (member.mode & 0o777) | 0o600)
        os.utime(path, (member.mtime, member.mtime))

    def _hard_link(self, path: str, member: tarfile.TarInfo) -> None:
        target = self._relative(member.linkname)
        if target not in self._files:
            raise SandboxError(
                f"the sandbox's {self._root} links {member.name!r} to {member.linkname!r}, "
                "which is not a file it holds"
            )
        os.link(os.path.join(self._dest, target), path)
        self.done.files += 1
