"""The difference between two root filesystem tars, as a tar of its own.

A toolchain image is the sandbox image plus what a few more Debian packages add. Rather than
build the harnesses again on a second root filesystem, the toolchain's packages are
debootstrapped alongside the base packages (cached like the base's), and only the members that
are new or changed relative to the base root filesystem become the layer added on top of the
sandbox image. Files the sandbox image itself writes (its user, git's system config) are never
carried over.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path

from sandbox.errors import ImageError

#: Members the sandbox image's Dockerfile writes over the base: a delta never replaces them.
KEEP_FROM_IMAGE: frozenset[str] = frozenset(
    {
        "etc/passwd",
        "etc/passwd-",
        "etc/group",
        "etc/group-",
        "etc/shadow",
        "etc/shadow-",
        "etc/gshadow",
        "etc/gshadow-",
        "etc/gitconfig",
        "etc/hostname",
        "etc/hosts",
        "etc/resolv.conf",
    }
)

_Key = tuple[int, int, int, int, str, str]


def _name(member: tarfile.TarInfo) -> str:
    return member.name.removeprefix("./").rstrip("/")


def _content_digest(archive: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    if not member.isfile():
        return ""
    handle = archive.extractfile(member)
    if handle is None:
        return ""
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _key(archive: tarfile.TarFile, member: tarfile.TarInfo) -> _Key:
    return (
        int(member.type[0]) if member.type.isdigit() else ord(member.type),
        member.mode,
        member.uid,
        member.gid,
        member.linkname,
        _content_digest(archive, member),
    )


def _index(path: Path) -> dict[str, _Key]:
    with tarfile.open(path) as archive:
        return {_name(m): _key(archive, m) for m in archive}


def write_delta(base: Path, full: Path, out: Path, *, keep: Iterable[str] = KEEP_FROM_IMAGE) -> int:
    """Write to `out` every member of `full` that `base` lacks or holds differently (type, mode,
    owner, link target or content), but those in `keep`; the number of members written.

    Hard links are written as the files they name, so the layer stands alone. Deletions are not
    carried over: packages only add."""
    kept = frozenset(keep)
    try:
        known = _index(base)
        partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
        written = 0
        with (
            tarfile.open(full) as source,
            tarfile.open(partial, "w", format=tarfile.GNU_FORMAT) as sink,
        ):
            for member in source:
                name = _name(member)
                if not name or name in kept:
                    continue
                if member.islnk():
                    target = source.getmember(member.linkname)
                    if known.get(name) == _key(source, target):
                        continue
                    alone = copy.copy(target)
                    alone.name = member.name
                    sink.addfile(alone, source.extractfile(target))
                    written += 1
                    continue
                if known.get(name) == _key(source, member):
                    continue
                sink.addfile(member, source.extractfile(member) if member.isfile() else None)
                written += 1
        partial.rename(out)
    except (OSError, tarfile.TarError, KeyError) as exc:
        raise ImageError(f"cannot compute the delta of {full} over {base}: {exc}") from exc
    return written
