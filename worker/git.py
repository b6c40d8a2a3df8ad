"""git, behind one small class. The token is passed per command in the environment, never
written to any config, and the host never trusts the checkout's `.git` after the agent ran.

Layout of a workspace folder:
- `repo.git`: our private clone (bare). Only the host writes or reads it; its config is trusted.
- `checkout`: the working tree mounted into the sandbox, with its own `.git` so the agent can
  use git. That `.git` is a full copy (`--no-local`: no hardlink, so no inode, owner or path is
  shared with `repo.git`); the agent may rewrite all of it. The host never reads it: it hashes
  the tree's files into `repo.git` through a private index, and takes the base commit, the diff,
  the policy's blobs, the verification trees and the push from `repo.git` alone.
"""

import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from worker import worktrees
from worker.errors import GitError
from worker.gitcmd import run_git, text
from worker.repo_cache import Mirror, RepoCache


class Checkout:
    """A fresh checkout of one repository on a new branch, ready to mount into a sandbox."""

    def __init__(self, root: Path, token: str | None, timeout: float) -> None:
        self.root = root
        self.path = root / "checkout"
        self.gitdir = root / "repo.git"
        self.index = root / "host.index"
        """The host's private index of the tree (never the checkout's own)."""
        self.given_to = ""
        """The user the tree already belongs to (a tree made as the sandbox user)."""
        self._index_fresh = False
        self.stages: dict[str, float] = {}
        """Seconds each step of a cached checkout took (mirror_fetch, host_repo, tree)."""
        self._token = token
        self._timeout = timeout
        self.base_sha = ""
        self.branch = ""
        self.lease = ""

    def _run(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        auth: bool = False,
        host_view: bool = False,
        extra_env: dict[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> str:
        out = self._run_bytes(
            args, cwd=cwd, auth=auth, host_view=host_view, extra_env=extra_env, stdin=stdin
        )
        return text(out)

    def _run_bytes(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        auth: bool = False,
        host_view: bool = False,
        extra_env: dict[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> bytes:
        env = dict(extra_env or {})
        prefix: list[str] = []
        if host_view:
            env |= {
                "GIT_DIR": str(self.gitdir),
                "GIT_WORK_TREE": str(self.path),
                "GIT_INDEX_FILE": str(self.index),
            }
            prefix += list(HOST_VIEW_CONFIG)
        return run_git(
            [*prefix, *args],
            cwd=cwd or (self.gitdir if self.gitdir.exists() else self.root),
            home=self.root,
            timeout=self._timeout,
            token=self._token if auth else None,
            env=env,
            stdin=stdin,
        )

    def clone(self, url: str, base_branch: str | None, branch: str) -> None:
        """Clone `url` straight from the remote (no cache) and copy it for the sandbox."""
        args = ["clone", "--bare", "--quiet", "--no-tags"]
        if base_branch:
            args += ["--branch", base_branch]
        self._run([*args, url, str(self.gitdir)], auth=True)
        head = self._host_ready(branch)
        # --no-local: the agent's `.git` gets its own copies of the objects, never hardlinks
        # to ours, so rewriting them cannot change what the host reads.
        self._run(["clone", "--quiet", "--no-local", str(self.gitdir), str(self.path)])
        if head != branch:  # a follow-up starts on the branch itself
            self._run(["checkout", "--quiet", "-b", branch], cwd=self.path)
        self._run(["remote", "remove", "origin"], cwd=self.path)
        self.base_branch = base_branch or head

    def clone_cached(
        self, cache: RepoCache, url: str, base_branch: str | None, branch: str, user: str
    ) -> Mirror:
        """The host repository from `cache`'s mirror of `url` (fetched now; objects borrowed
        through alternates), and the tree from a spare (`worker.worktrees`): the agent's `.git`
        in it is a depth-1 copy of the base commit, its own files."""
        t0 = time.monotonic()
        mirror = cache.fetch(url, self._token)
        t1 = time.monotonic()
        args = ["clone", "--bare", "--quiet", "--no-tags", "--shared"]
        if base_branch:
            args += ["--branch", base_branch]
        self._run([*args, str(mirror.path), str(self.gitdir)])
        self._run(["remote", "set-url", "origin", url], cwd=self.gitdir)
        head = self._host_ready(branch)
        self.base_branch = base_branch or head
        t2 = time.monotonic()
        folder = self.root / "tree"
        writer = worktrees.as_user(user)
        git = worktrees.TreeGit(self.gitdir, self._timeout, writer)
        made_at = cache.spares.take(mirror.path, folder)
        if made_at is None:
            folder.mkdir()
            worktrees.build(git, self.base_sha, folder, branch)
        else:
            worktrees.catch_up(git, folder, made_at, self.base_sha, branch)
        self.path, self.index = folder / "tree", folder / "host.index"
        self._index_fresh, self.given_to = True, user
        self.stages = {
            "mirror_fetch": t1 - t0,
            "host_repo": t2 - t1,
            "spare_tree" if made_at else "tree_build": time.monotonic() - t2,
        }
        return mirror

    def _host_ready(self, branch: str) -> str:
        """Lease, attributes and base of a fresh host repository; its HEAD branch."""
        # What the agent branch was on the remote when we started: the push's lease.
        self.lease = self._ref_sha(f"refs/heads/{branch}")
        # No attribute from any tree applies: an agent's `.gitattributes` could otherwise call
        # text binary (hiding lines from the policy), drop files from exports or filter content.
        # info/attributes outranks every tree's, and `!x` means "unspecified" (git >= 1.6).
        (self.gitdir / "info").mkdir(exist_ok=True)
        (self.gitdir / "info" / "attributes").write_text(NO_ATTRIBUTES)
        head = self._run(["symbolic-ref", "--short", "HEAD"], cwd=self.gitdir)
        self.base_sha = self._run(["rev-parse", "HEAD"], cwd=self.gitdir)
        self.branch = branch
        return head

    def commit_all(self, message: str, author: str, email: str) -> str | None:
        """Commit the working tree as it is now on top of the base; None if nothing changed.
        With a fresh index (a tree made for this run) only files whose stat data changed are
        hashed; git compares ctime, which the sandbox cannot set back."""
        if not self._index_fresh:
            self._run(["read-tree", self.base_sha], host_view=True)
        self._index_fresh = False
        self._run(["add", "--all", "--", "."], host_view=True)
        tree = self._run(["write-tree"], host_view=True)
        if tree == self._run(["rev-parse", f"{self.base_sha}^{{tree}}"], host_view=True):
            return None
        ident = {
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": email,
        }
        sha = self._run(
            ["commit-tree", tree, "-p", self.base_sha, "-m", message],
            host_view=True,
            extra_env=ident,
        )
        self._run(["update-ref", f"refs/heads/{self.branch}", sha], host_view=True)
        return sha

    def export(self, sha: str, dest: Path) -> Path:
        """The tree of `sha` written to `dest` (no .git): a throwaway copy for verification.
        Every file of the tree, whatever its `.gitattributes` say (`export-ignore` too)."""
        dest.mkdir(parents=True, exist_ok=True)
        index = {"GIT_INDEX_FILE": str(self.root / f"export-{sha[:12]}.index")}
        self._run(["read-tree", sha], cwd=self.gitdir, extra_env=index)
        self._run(
            ["checkout-index", "--all", "--force", f"--prefix={dest}/"],
            cwd=self.gitdir,
            extra_env=index | {"GIT_WORK_TREE": str(dest)},
        )
        (self.root / f"export-{sha[:12]}.index").unlink()
        return dest

    def changes(self, base: str, sha: str) -> list["FileStat"]:
        """Every file `sha` changes against `base`, read from git's machine formats (`-z`, raw
        modes, no quoting, no renames), with lines added/removed (None when git calls it
        binary: a NUL byte) and the new size."""
        raw = self._run(["diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", base, sha])
        num = self._run(["diff-tree", "-r", "-z", "--no-renames", "--numstat", base, sha])
        counts: dict[str, tuple[int | None, int | None]] = {}
        for rec in num.split("\0"):
            if rec:
                plus, minus, name = rec.split("\t", 2)
                counts[name] = (None, None) if plus == "-" else (int(plus), int(minus))
        fields = raw.split("\0")
        stats: list[FileStat] = []
        for head, path in zip(fields[0:-1:2], fields[1::2], strict=True):
            old_mode, new_mode, old_blob, new_blob, status = head.lstrip(":").split(" ")
            added, removed = counts.get(path, (0, 0))
            stats.append(
                FileStat(
                    path=path,
                    added=added,
                    removed=removed,
                    size=None,
                    status=status,
                    old_mode=old_mode,
                    new_mode=new_mode,
                    old_blob=old_blob,
                    new_blob=new_blob,
                )
            )
        sizes = self.blob_sizes([s.new_blob for s in stats if s.new_mode in BLOB_MODES])
        return [replace(s, size=sizes.get(s.new_blob)) for s in stats]

    def diff_stats(self, base: str, sha: str) -> list["FileStat"]:
        """Per changed file: lines added and removed (None for binary), and its new size."""
        return self.changes(base, sha)

    def blob_sizes(self, blobs: Sequence[str]) -> dict[str, int]:
        """The size of each blob."""
        if not blobs:
            return {}
        out = self._run(["cat-file", "--batch-check"], stdin=_lines(blobs))
        return {sha: int(size) for sha, _, size in (ln.split(" ") for ln in out.splitlines())}

    def blobs(self, blobs: Sequence[str]) -> dict[str, bytes]:
        """The content of each blob, read from the host's own object store."""
        if not blobs:
            return {}
        out = self._run_bytes(["cat-file", "--batch"], cwd=self.gitdir, stdin=_lines(blobs))
        found: dict[str, bytes] = {}
        at = 0
        while at < len(out):
            eol = out.index(b"\n", at)
            sha, _, size = out[at:eol].decode().split(" ")
            found[sha] = out[eol + 1 : eol + 1 + int(size)]
            at = eol + 1 + int(size) + 1
        return found

    def rev(self, ref: str) -> str:
        """The commit `ref` (a branch of the cloned repository) points at."""
        return self._run(["rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=self.gitdir)

    def diff(self, base: str, sha: str) -> str:
        return self._run(["diff", "--no-color", base, sha], cwd=self.gitdir)

    def read_base_file(self, path: str) -> str | None:
        """A file as it is in the base commit (trusted: what the maintainers merged)."""
        return self.show(self.base_sha, path)

    def show(self, sha: str, path: str) -> str | None:
        """A file as it is in commit `sha`, or None when it has no such file."""
        names = self._run(["ls-tree", "--name-only", sha, "--", path], cwd=self.gitdir)
        if path not in names.splitlines():
            return None
        return self._run(["show", f"{sha}:{path}"], cwd=self.gitdir)

    def push(self) -> None:
        """Push the branch to origin with the token, leased on what the branch was when this
        checkout was made: if anyone pushed to it since, git refuses (`GitError`) and their
        commits stay."""
        ref = f"refs/heads/{self.branch}:refs/heads/{self.branch}"
        lease = f"--force-with-lease=refs/heads/{self.branch}:{self.lease}"
        self._run(["push", "--quiet", lease, "origin", ref], cwd=self.gitdir, auth=True)

    def others_commits(self, base: str, author_email: str) -> list[str]:
        """Commits on the remote agent branch (as it was at checkout) beyond `base` that
        someone else made: a new run from `base` must not push over them."""
        if not self.lease:
            return []
        out = self._run(["log", "--format=%H %ae", f"{base}..{self.lease}"], cwd=self.gitdir)
        return [
            line.split(" ", 1)[0]
            for line in out.splitlines()
            if line and line.split(" ", 1)[-1].lower() != author_email.lower()
        ]

    def _ref_sha(self, ref: str) -> str:
        """The commit `ref` names in our clone, or "" when there is no such ref."""
        try:
            return self._run(["rev-parse", "--verify", "--quiet", ref], cwd=self.gitdir)
        except GitError:
            return ""

    def give_to(self, tree: Path, user: str) -> None:
        """Give a tree to the sandbox user `uid:gid` (needed, and only possible, as root)."""
        if os.geteuid() != 0 or (tree == self.path and self.given_to == user):
            return  # a spare tree comes given already; an export never does
        uid, gid = (int(x) for x in user.split(":", 1))
        for dirpath, dirnames, filenames in os.walk(tree):
            for name in [*dirnames, *filenames]:
                os.lchown(os.path.join(dirpath, name), uid, gid)
        os.lchown(tree, uid, gid)


@dataclass(frozen=True)
class FileStat:
    """One file of a change: lines added/removed (None when binary), its new size (None when
    deleted or not a blob), and git's raw record (status, modes, blob ids)."""

    path: str
    added: int | None
    removed: int | None
    size: int | None
    status: str = "M"
    old_mode: str = "100644"
    new_mode: str = "100644"
    old_blob: str = ""
    new_blob: str = ""


NO_ATTRIBUTES = (
    "* !text !eol !crlf !diff !merge !filter !ident !working-tree-encoding"
    " !export-ignore !export-subst\n"
)
HOST_VIEW_CONFIG = (
    "-c",
    "core.bare=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
)
"""How the host looks at a checkout's tree: never its hooks or a file-system monitor."""
BLOB_MODES = ("100644", "100755", "120000")
"""Regular files, executables and symlinks (whose blob is the link's target, never followed)."""
GITLINK_MODE = "160000"


def _lines(items: Sequence[str]) -> bytes:
    return "".join(f"{i}\n" for i in items).encode()


@contextmanager
def checkout(
    url: str,
    token: str | None,
    *,
    base_branch: str | None,
    branch: str,
    parent: Path,
    timeout: float,
    cache: RepoCache | None = None,
    user: str = "",
    spares: int = 1,
) -> Iterator[Checkout]:
    """A fresh checkout under `parent`, removed afterwards whatever happens. With a `cache`,
    from its mirror and a spare tree made for `user`; afterwards, up to `spares` new spare
    trees of the default branch are made in the background for the next runs."""
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="ws-", dir=parent))
    try:
        co = Checkout(root, token, timeout)
        if cache is None:
            co.clone(url, base_branch, branch)
            yield co
            return
        with cache.using(cache.path_of(url)):
            mirror = co.clone_cached(cache, url, base_branch, branch, user)
            try:
                yield co
            finally:  # after the run: making a tree must not slow the run's own sandbox
                if spares > 0:
                    worktrees.replenish_soon(cache.spares, mirror, user, spares)
    finally:
        shutil.rmtree(root, ignore_errors=True)
