"""The repository cache: one bare mirror per repository under the work folder, fetched before
each run, from which the run's own host repository is made in milliseconds.

- `mirrors/<name>.git`: refs/heads of the remote, fetched with the token per command (never
  stored). Only the host reads it: runs' host repositories borrow its objects through
  `objects/info/alternates` (read-only use; each writes its own objects into its own store);
  the sandbox never sees it (its checkout's `.git` holds copies, see `worker.worktrees`).
  `gc.auto` is off, so a fetch never deletes an object a running run borrows.
- `locks/<name>.fetch`: one fetch at a time per repository, across worker processes (`flock`,
  waited for at most the lock timeout); `locks/<name>.use`: held shared by each run using the
  mirror, so pruning (which needs it exclusive) never removes a mirror in use.
- A mirror that fails its check (refs or objects unreadable) or its fetch is cloned again, into
  a new folder that replaces it only once complete.
"""

import fcntl
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from worker.errors import GitError
from worker.gitcmd import run_git, text
from worker.logs import get_logger
from worker.worktrees import SpareTrees

log = get_logger(__name__)

_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Mirror:
    """A fetched mirror: its folder, the remote's URL, and its default branch's commit."""

    path: Path
    url: str
    head: str
    default_branch: str


@dataclass
class PruneReport:
    """What one prune pass removed."""

    removed: list[str] = field(default_factory=list)
    kept_bytes: int = 0


class RepoCache:
    """Mirrors under `root` (see the module's docstring)."""

    def __init__(self, root: Path, *, timeout: float, lock_timeout: float) -> None:
        self.root = root
        self.spares = SpareTrees(root / "trees", timeout)
        self._timeout = timeout
        self._lock_timeout = lock_timeout

    def path_of(self, url: str) -> Path:
        """The mirror folder of `url` (a readable name and a hash of the whole URL)."""
        tail = "-".join(url.rstrip("/").removesuffix(".git").split("/")[-2:])
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        return self.root / "mirrors" / f"{_SLUG.sub('-', tail)[:60]}-{digest}.git"

    def fetch(self, url: str, token: str | None) -> Mirror:
        """The mirror of `url`, brought up to date now (cloned when missing, cloned again
        when broken). One fetch per repository at a time; the others wait for it."""
        path = self.path_of(url)
        if not self.root.exists():  # only the host: spare trees wait here for their runs
            self.root.mkdir(parents=True, mode=0o700)
        with self._lock(path, "fetch", exclusive=True, wait=self._lock_timeout):
            if path.exists():
                try:
                    self._git(["fetch", "--quiet", "--prune", "--no-tags", "origin"], path, token)
                    return self._checked(path, url)
                except GitError as exc:
                    log.warning("mirror broken or fetch failed; cloning again", error=str(exc))
            self._clone(url, token, path)
            return self._checked(path, url)

    @contextmanager
    def using(self, mirror: Path) -> Iterator[None]:
        """Held while a run borrows `mirror`'s objects: pruning leaves it alone meanwhile."""
        with self._lock(mirror, "use", exclusive=False, wait=self._lock_timeout):
            if mirror.exists():
                os.utime(mirror)  # its age, for pruning, is the time it was last used
            yield

    def prune(
        self, max_age_seconds: float, max_bytes: int, now: float | None = None
    ) -> PruneReport:
        """Remove mirrors unused for `max_age_seconds`, then the least recently used ones
        until all fit in `max_bytes`; a mirror in use or being fetched is skipped."""
        now = time.time() if now is None else now
        report = PruneReport()
        mirrors = sorted(
            (p for p in (self.root / "mirrors").glob("*.git")), key=lambda p: p.stat().st_mtime
        )
        sizes = {p: _size(p) + _size(self.spares.root / p.name) for p in mirrors}
        total = sum(sizes.values())
        for path in mirrors:
            old = now - path.stat().st_mtime > max_age_seconds
            if not old and total <= max_bytes:
                continue
            if self._remove_unused(path):
                report.removed.append(path.name)
                total -= sizes[path]
        for path in mirrors:
            if path.name not in report.removed:  # spares outlive their usefulness too
                self.spares.prune(path.name, max_age_seconds, now)
        report.kept_bytes = total
        return report

    def _remove_unused(self, path: Path) -> bool:
        try:
            with (
                self._lock(path, "use", exclusive=True, wait=0),
                self._lock(path, "fetch", exclusive=True, wait=0),
            ):
                shutil.rmtree(path, ignore_errors=True)
                self.spares.prune(path.name, 0, time.time())
                return True
        except GitError:  # busy
            return False

    def _clone(self, url: str, token: str | None, path: Path) -> None:
        fresh = path.with_name(f".{path.name}-{uuid.uuid4().hex[:8]}")
        fresh.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._git(
                ["clone", "--bare", "--quiet", "--no-tags", url, str(fresh)], fresh.parent, token
            )
            for key, value in _MIRROR_CONFIG:
                self._git(["config", key, value], fresh, None)
            old = path.with_name(f".{path.name}-old-{uuid.uuid4().hex[:8]}")
            if path.exists():
                os.rename(path, old)
            os.rename(fresh, path)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)

    def _checked(self, path: Path, url: str) -> Mirror:
        """The mirror's default branch and commit, its objects read (a `GitError` if not)."""
        symbolic = (path / "HEAD").read_text().strip() if (path / "HEAD").exists() else ""
        if not symbolic.startswith("ref: refs/heads/"):
            raise GitError(f"mirror {path.name}: HEAD is not a branch: {symbolic[:80]!r}")
        head = text(self._git(["rev-parse", "--verify", "HEAD^{commit}"], path, None))
        self._git(["ls-tree", "-r", "--name-only", head], path, None)  # every tree readable
        branch = symbolic.removeprefix("ref: refs/heads/")
        return Mirror(path=path, url=url, head=head, default_branch=branch)

    def _git(self, args: list[str], cwd: Path, token: str | None) -> bytes:
        return run_git(args, cwd=cwd, home=self.root, timeout=self._timeout, token=token)

    @contextmanager
    def _lock(self, path: Path, kind: str, *, exclusive: bool, wait: float) -> Iterator[None]:
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(locks / f"{path.name}.{kind}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, mode)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise GitError(
                            f"the {kind} lock of mirror {path.name} stayed held for {wait:.0f} s"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # releases the lock


_MIRROR_CONFIG = (
    ("remote.origin.fetch", "+refs/heads/*:refs/heads/*"),
    ("gc.auto", "0"),  # runs borrow its objects: never deleted under them
    ("fetch.prune", "true"),
    ("core.logAllRefUpdates", "false"),
)


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total
