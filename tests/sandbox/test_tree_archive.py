"""What a sandbox hands back is untrusted: the extractor keeps a tree faithfully and refuses
every archive that would write outside its folder, or is too large."""

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from sandbox.errors import SandboxError
from sandbox.tree_archive import extract_tree


def _tar(*entries: tuple[str, str, object]) -> bytes:
    """A tar of entries `(name, kind, payload)`: kind dir/file/sym/hard/fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, int(payload or 0o755)  # type: ignore[call-overload]
                tar.addfile(info)
            elif kind == "file":
                data, mode = payload if isinstance(payload, tuple) else (payload, 0o644)
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, str(payload)
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, str(payload)
                tar.addfile(info)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
    return buf.getvalue()


def _chunks(data: bytes, size: int = 1000) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_tree_comes_back_with_its_files_modes_links_and_times(tmp_path: Path) -> None:
    archive = _tar(
        ("workspace", "dir", 0o755),
        ("workspace/run.sh", "file", (b"#!/bin/sh\n", 0o4755)),
        ("workspace/src", "dir", 0o555),
        ("workspace/src/a.py", "file", (b"x = 1\n", 0o644)),
        ("workspace/src/b.py", "hard", "workspace/src/a.py"),
        ("workspace/abs", "sym", "/etc/passwd"),
        ("workspace/rel", "sym", "../outside"),
        ("workspace/pipe", "fifo", None),
    )
    dest = tmp_path / "out"
    done = extract_tree(_chunks(archive), dest, "workspace", max_bytes=len(archive))
    assert (dest / "run.sh").read_bytes() == b"#!/bin/sh\n"
    # setuid dropped, the exec bits kept
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o755
    assert (dest / "src" / "b.py").read_bytes() == b"x = 1\n"
    # a read-only folder was still filled, and stays writable for its owner (the host)
    assert stat.S_IMODE((dest / "src").stat().st_mode) == 0o755
    assert os.readlink(dest / "abs") == "/etc/passwd"  # kept as a link, never followed
    assert os.readlink(dest / "rel") == "../outside"
    assert not (dest / "pipe").exists() and done.dropped == ["pipe"]
    assert (dest / "src" / "a.py").stat().st_mtime == 1_700_000_000
    assert (done.files, done.folders, done.links) == (3, 1, 2)


@pytest.mark.parametrize(
    "entries",
    [
        [("workspace", "dir", None), ("/etc/evil", "file", b"x")],
        [("workspace", "dir", None), ("workspace/../evil", "file", b"x")],
        [("workspace", "dir", None), ("other/evil", "file", b"x")],
        # a symlink to a folder outside, then a file "inside" it
        [
            ("workspace", "dir", None),
            ("workspace/d", "sym", "/tmp"),
            ("workspace/d/x", "file", b"x"),
        ],
        # a hard link to a file outside the tree
        [("workspace", "dir", None), ("workspace/h", "hard", "/etc/passwd")],
        [("workspace", "dir", None), ("workspace/h", "hard", "workspace/missing")],
        # an entry before its folder, and a file written twice (the second through a link)
        [("workspace", "dir", None), ("workspace/a/b", "file", b"x")],
        [
            ("workspace", "dir", None),
            ("workspace/s", "sym", "/etc/x"),
            ("workspace/s", "file", b"x"),
        ],
        [("workspace", "file", b"not a folder")],
    ],
)
def test_an_archive_that_would_leave_its_folder_is_refused(
    tmp_path: Path, entries: list[tuple[str, str, object]]
) -> None:
    archive = _tar(*entries)
    with pytest.raises(SandboxError):
        extract_tree(_chunks(archive), tmp_path / "out", "workspace", max_bytes=10**6)
    assert not (tmp_path / "evil").exists()
    assert not Path("/tmp/x").exists() or Path("/tmp/x").stat().st_mtime != 1_700_000_000


def test_an_archive_larger_than_the_bound_is_refused_as_it_streams(tmp_path: Path) -> None:
    big = _tar(("workspace", "dir", None), ("workspace/big", "file", b"0" * 200_000))
    read: list[int] = []

    def chunks() -> object:
        for c in _chunks(big, 10_000):
            read.append(len(c))
            yield c

    with pytest.raises(SandboxError, match="larger than 50000 bytes"):
        extract_tree(chunks(), tmp_path / "out", "workspace", max_bytes=50_000)  # type: ignore[arg-type]
    assert sum(read) <= 60_000  # stopped at the bound, not after reading everything


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    files = [(f"workspace/f{i}", "file", b"") for i in range(20)]
    archive = _tar(("workspace", "dir", None), *files)
    with pytest.raises(SandboxError, match="more than 10 entries"):
        extract_tree(_chunks(archive), tmp_path / "out", "workspace", 10**6, max_entries=10)


def test_a_broken_archive_is_a_sandbox_error(tmp_path: Path) -> None:
    archive = _tar(("workspace", "dir", None), ("workspace/a", "file", b"x" * 5000))
    with pytest.raises(SandboxError):
        extract_tree([archive[:1500]], tmp_path / "out", "workspace", 10**6)
