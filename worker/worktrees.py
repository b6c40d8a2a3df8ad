"""Working trees for sandboxes, made ahead of time from a mirror.

Writing tens of thousands of files is what a checkout of a large repository costs; the rest of
a workspace (a mirror fetch, the host's repository with alternates) takes milliseconds. So each
mirror keeps a spare tree of its default branch, made in the background after a run takes one:

- `tree/`: the files of one commit, given to the sandbox user, and the agent's own `.git`:
  a depth-1 copy of that commit (its objects packed into the tree's `.git`, never linked:
  nothing shares an inode with the mirror or with the host's repository);
- `host.index`: the host's index of the tree, stat data and all, refreshed after the tree was
  written, so the host's commit after the run hashes only what the agent touched. git compares
  ctime, which no unprivileged process can set, so a change cannot hide from it.

A run takes a spare by renaming it (atomic: two runs never get the same one) and moves it to its
base commit with `read-tree -m -u`, which writes only the files that differ. Without a spare the
same tree is made in place, on the run's clock.
"""

import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from worker.errors import GitError
from worker.gitcmd import run_git, text
from worker.logs import get_logger

log = get_logger(__name__)

READY = "ready"
MAKING_SECONDS = 600.0
"""The longest a spare may take to make; older half-made ones are leftovers."""
"""The marker written last: a spare without it is half made (or being made) and never taken."""


@dataclass(frozen=True)
class TreeGit:
    """How to run git for one tree: which repository's objects, as which user, how long."""

    gitdir: Path
    """A repository holding the tree's commits (the mirror, or a host repository on it)."""
    timeout: float
    user: str | None = None
    """`uid:gid` the files are given to (the sandbox user), or None: they stay ours."""

    def run(
        self,
        args: list[str],
        *,
        home: Path,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> str:
        prefix = ["-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null"]
        return text(
            run_git(
                [*prefix, *args],
                cwd=home,
                home=home,
                timeout=self.timeout,
                env={"GIT_DIR": str(self.gitdir), **(env or {})},
                stdin=stdin,
            )
        )


def build(git: TreeGit, sha: str, folder: Path, branch: str) -> None:
    """Make `folder/tree` (the files of `sha` and the agent's `.git` on `branch`) and
    `folder/host.index`. `folder` must exist and be writable by the tree's user."""
    tree, index = folder / "tree", folder / "host.index"
    tree.mkdir()
    view = _view(tree, index)
    git.run(["read-tree", sha], home=folder, env=view)
    git.run(["-c", "core.bare=false", "checkout-index", "-a", "-f"], home=folder, env=view)
    _agent_git(git, folder, sha, branch, objects=_snapshot(git, folder, sha))
    give_tree(tree, git.user)
    # The index gets the stat data of the tree as given. Entries written in the same second
    # as the index are "racily clean" (git would hash them again at the commit): refreshed a
    # second later, they are not.
    time.sleep(max(0.0, 1.05 - (time.time() % 1.0)))
    git.run(["-c", "core.bare=false", "update-index", "-q", "--refresh"], home=folder, env=view)
    _copy_index(index, tree)


def catch_up(git: TreeGit, folder: Path, old: str, new: str, branch: str) -> None:
    """Move a tree made at `old` to `new`: only the files that differ are written, and the
    agent's `.git` gets the objects of `new` it lacks."""
    tree, index = folder / "tree", folder / "host.index"
    if old != new:
        view = _view(tree, index)
        git.run(["-c", "core.bare=false", "read-tree", "-m", "-u", old, new], home=folder, env=view)
        _agent_git(git, folder, new, branch, objects=_changed(git, folder, old, new))
        names = git.run(["diff-tree", "-r", "-z", "--name-only", old, new], home=folder)
        _give_paths(tree, [n for n in names.split("\0") if n], git.user)
    else:
        _point_branch(git, folder, new, branch)
    give_tree(tree / ".git", git.user)
    _copy_index(index, tree)


def _view(tree: Path, index: Path) -> dict[str, str]:
    return {"GIT_WORK_TREE": str(tree), "GIT_INDEX_FILE": str(index)}


def _snapshot(git: TreeGit, folder: Path, sha: str) -> list[str]:
    """Every object of one commit: itself, its trees and blobs (no history)."""
    out = git.run(["rev-list", "--objects", "--no-object-names", "--no-walk", sha], home=folder)
    return out.split()


def _changed(git: TreeGit, folder: Path, old: str, new: str) -> list[str]:
    """The objects of `new`'s snapshot that `old`'s snapshot lacks (at the same path)."""
    raw = git.run(["diff-tree", "-r", "-t", "-z", "--no-renames", old, new], home=folder)
    fields = raw.split("\0")
    found = [new, git.run(["rev-parse", f"{new}^{{tree}}"], home=folder)]
    for head in fields[0:-1:2]:
        parts = head.lstrip(":").split(" ")
        if len(parts) == 5 and parts[4] != "D" and parts[1] != "160000":
            found.append(parts[3])
    return found


def _agent_git(git: TreeGit, folder: Path, sha: str, branch: str, objects: list[str]) -> None:
    """The agent's `.git` in the tree: `objects` packed into it (copies), `sha` its shallow
    root, `branch` checked out at `sha`."""
    dot = folder / "tree" / ".git"
    if not dot.exists():  # no GIT_DIR here: it would name the repository to create
        init = ["init", "--quiet", str(folder / "tree")]  # a usual .git: hooks/, info/
        run_git(init, cwd=folder, home=folder, timeout=git.timeout)
    pack = dot / "objects" / "pack" / f"pack-{uuid.uuid4().hex[:8]}"
    git.run(["pack-objects", "--quiet", str(pack)], home=folder, stdin="\n".join(objects).encode())
    with (dot / "shallow").open("a") as shallow:
        shallow.write(f"{sha}\n")
    _point_branch(git, folder, sha, branch)


def _point_branch(git: TreeGit, folder: Path, sha: str, branch: str) -> None:
    """`branch` at `sha`, checked out: written as files (the agent has not had this `.git`
    yet), checked by git for a valid name first."""
    git.run(["check-ref-format", "--branch", branch], home=folder)
    dot = folder / "tree" / ".git"
    ref = dot / "refs" / "heads" / branch
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(f"{sha}\n")
    (dot / "HEAD").write_text(f"ref: refs/heads/{branch}\n")


def give_tree(tree: Path, user: str | None) -> None:
    """Every entry of `tree` (links themselves, never followed) to `user`, when there is one."""
    if user is None:
        return
    uid, gid = (int(x) for x in user.split(":", 1))
    os.lchown(tree, uid, gid)
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def _give_paths(tree: Path, names: list[str], user: str | None) -> None:
    """The files `names` (those that exist) and their folders to `user`."""
    if user is None:
        return
    uid, gid = (int(x) for x in user.split(":", 1))
    done: set[Path] = set()
    for name in names:
        path = tree / name
        while path != tree and path not in done:
            done.add(path)
            if os.path.lexists(path):
                os.lchown(path, uid, gid)
            path = path.parent


def _copy_index(index: Path, tree: Path) -> None:
    """The agent's git starts with the host's index (same stat data): a clean status."""
    dest = tree / ".git" / "index"
    shutil.copyfile(index, dest)
    st = (tree / ".git").stat()
    if os.geteuid() == 0:
        os.chown(dest, st.st_uid, st.st_gid)


def as_user(user: str | None) -> str | None:
    """Whom trees are given to: the sandbox user when we are root (else they stay ours)."""
    return user if user and os.geteuid() == 0 else None


class SpareTrees:
    """Spare trees per mirror under `root/<mirror name>/<id>/`; taken by rename, made by
    whoever calls `replenish` (a run's background thread, after it took one)."""

    def __init__(self, root: Path, timeout: float) -> None:
        self.root = root
        self._timeout = timeout

    def take(self, mirror: Path, dest: Path) -> str | None:
        """Move a ready spare of `mirror` to `dest` (which must not exist); the commit it
        holds, or None when there is none ready."""
        folder = self.root / mirror.name
        spares = sorted(folder.glob("*/" + READY), key=lambda p: p.stat().st_mtime)
        for marker in spares:
            sha = marker.read_text().strip()
            try:
                os.rename(marker.parent, dest)
            except OSError:  # another run took it first
                continue
            (dest / READY).unlink()
            return sha
        return None

    def ready(self, mirror: Path) -> int:
        """How many spares of `mirror` are ready."""
        return len(list((self.root / mirror.name).glob("*/" + READY)))

    def replenish(self, mirror: Path, sha: str, branch: str, user: str | None, want: int) -> int:
        """Make spares of `mirror` at `sha` until `want` are ready (or being made); the number
        made. Safe to call from several processes: each spare is made in its own folder."""
        folder = self.root / mirror.name
        folder.mkdir(parents=True, exist_ok=True)
        made = 0
        while self._ready_or_making(folder) < want:
            spare = folder / uuid.uuid4().hex[:12]
            spare.mkdir()
            try:
                build(TreeGit(mirror, self._timeout, as_user(user)), sha, spare, branch)
            except (GitError, OSError) as exc:
                log.warning("could not make a spare tree", mirror=mirror.name, error=str(exc))
                shutil.rmtree(spare, ignore_errors=True)
                return made
            (spare / READY).write_text(sha)
            made += 1
        return made

    @staticmethod
    def _ready_or_making(folder: Path) -> int:
        """Spares ready, and those being made (a half-made one older than `MAKING_SECONDS`
        was left by a process that died: removed)."""
        count = 0
        for spare in folder.iterdir():
            if (spare / READY).exists() or time.time() - spare.stat().st_mtime < MAKING_SECONDS:
                count += 1
            else:
                shutil.rmtree(spare, ignore_errors=True)
        return count

    def prune(self, mirror_name: str, max_age_seconds: float, now: float) -> int:
        """Remove spares of a mirror older than `max_age_seconds` (all when the age is 0)."""
        removed = 0
        for spare in (self.root / mirror_name).glob("*"):
            if now - spare.stat().st_mtime >= max_age_seconds:
                shutil.rmtree(spare, ignore_errors=True)
                removed += 1
        return removed


def replenish_soon(spares: SpareTrees, mirror: "MirrorLike", user: str, want: int) -> None:
    """Make spares of `mirror`'s default branch in a background thread (a run's files are
    never waited for: the next run takes what is ready)."""
    threading.Thread(
        target=spares.replenish,
        args=(mirror.path, mirror.head, mirror.default_branch, user or None, want),
        name=f"spare-{mirror.path.name}",
        daemon=True,
    ).start()


class MirrorLike(Protocol):
    """What `replenish_soon` reads of a mirror."""

    @property
    def path(self) -> Path: ...
    @property
    def head(self) -> str: ...
    @property
    def default_branch(self) -> str: ...
