"""git, behind one small class. The token is passed per command in the environment, never
written to any config, and the host never trusts the checkout's `.git` after the agent ran.

Layout of a workspace folder:
- `repo.git`: our private clone (bare). Only the host uses it; its config is trusted.
- `checkout`: the working tree mounted into the sandbox, with its own `.git` cloned from
  `repo.git` so the agent can use git. Its hooks, config and attributes can be hostile, so the
  host reads the tree with `repo.git` as GIT_DIR and a private index instead.
"""

import base64
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from git import Git
from git.exc import GitCommandError

from worker.errors import GitError


class Checkout:
    """A fresh checkout of one repository on a new branch, ready to mount into a sandbox."""

    def __init__(self, root: Path, token: str | None, timeout: float) -> None:
        self.root = root
        self.path = root / "checkout"
        self.gitdir = root / "repo.git"
        self._token = token
        self._timeout = timeout
        self.base_sha = ""
        self.branch = ""

    def _run(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        auth: bool = False,
        host_view: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> str:
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root),
        }
        if auth and self._token:
            basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
            env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            }
        env |= extra_env or {}
        prefix: list[str] = ["git"]
        if host_view:
            env |= {
                "GIT_DIR": str(self.gitdir),
                "GIT_WORK_TREE": str(self.path),
                "GIT_INDEX_FILE": str(self.root / "host.index"),
            }
            prefix += [
                "-c",
                "core.bare=false",
                "-c",
                "core.hooksPath=/dev/null",
                "-c",
                "core.fsmonitor=false",
            ]
        try:
            out = Git(str(cwd or self.root)).execute(
                [*prefix, *args],
                env={**_base_env(), **env},
                kill_after_timeout=self._timeout,
                with_extended_output=False,
                strip_newline_in_stdout=True,
            )
        except GitCommandError as exc:
            stderr = str(exc.stderr or "").strip()
            if self._token:
                stderr = stderr.replace(self._token, "***")
            raise GitError(f"git {args[0]} failed ({exc.status}): {stderr[-2000:]}") from None
        return str(out)

    def clone(self, url: str, base_branch: str | None, branch: str) -> None:
        args = ["clone", "--bare", "--quiet", "--no-tags"]
        if base_branch:
            args += ["--branch", base_branch]
        self._run([*args, url, str(self.gitdir)], auth=True)
        head = self._run(["symbolic-ref", "--short", "HEAD"], cwd=self.gitdir)
        self.base_sha = self._run(["rev-parse", "HEAD"], cwd=self.gitdir)
        self._run(["clone", "--quiet", "--local", str(self.gitdir), str(self.path)])
        if head != branch:  # a follow-up starts on the branch itself
            self._run(["checkout", "--quiet", "-b", branch], cwd=self.path)
        self._run(["remote", "remove", "origin"], cwd=self.path)
        self.base_branch = base_branch or head
        self.branch = branch

    def commit_all(self, message: str, author: str, email: str) -> str | None:
        """Commit the working tree as it is now on top of the base; None if nothing changed."""
        self._run(["read-tree", self.base_sha], host_view=True)
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
        """The tree of `sha` written to `dest` (no .git): a throwaway copy for verification."""
        dest.mkdir(parents=True, exist_ok=True)
        tar = self.root / f"export-{sha[:12]}.tar"
        self._run(["archive", "--format=tar", "-o", str(tar), sha], cwd=self.gitdir)
        with tarfile.open(tar) as tf:
            if hasattr(tarfile, "tar_filter"):
                tf.extractall(dest, filter="tar")
            else:  # Python < 3.11.4 (Debian bookworm's 3.11.2, the images' Python): no filters;
                # git archive writes only tree paths, never absolute or `..` ones.
                tf.extractall(dest)
        tar.unlink()
        return dest

    def diff_stats(self, base: str, sha: str) -> list["FileStat"]:
        """Per changed file: lines added and removed (None for binary), and its new size."""
        out = self._run(["diff", "--numstat", "-z", "--no-renames", base, sha], cwd=self.gitdir)
        stats: list[FileStat] = []
        for rec in out.split("\0"):
            if not rec.strip():
                continue
            added, removed, path = rec.split("\t", 2)
            binary = added == "-"
            size = self._size(sha, path)
            stats.append(
                FileStat(
                    path=path,
                    added=None if binary else int(added),
                    removed=None if binary else int(removed),
                    size=size,
                )
            )
        return stats

    def added_lines(self, base: str, sha: str) -> list[tuple[str, int, str]]:
        """(path, line number, text) of every line the change adds."""
        out = self._run(["diff", "-U0", "--no-color", "--no-renames", base, sha], cwd=self.gitdir)
        lines: list[tuple[str, int, str]] = []
        path, n = "", 0
        for line in out.splitlines():
            if line.startswith("+++ "):
                path = line[6:] if line.startswith("+++ b/") else ""
            elif line.startswith("@@"):
                n = int(line.split("+", 1)[1].split(" ", 1)[0].split(",", 1)[0])
            elif line.startswith("+") and path:
                lines.append((path, n, line[1:]))
                n += 1
        return lines

    def _size(self, sha: str, path: str) -> int | None:
        try:
            return int(self._run(["cat-file", "-s", f"{sha}:{path}"], cwd=self.gitdir))
        except GitError:
            return None  # deleted

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

    def push(self, force: bool = False) -> None:
        """Push the branch to origin with the token."""
        ref = f"refs/heads/{self.branch}:refs/heads/{self.branch}"
        self._run(
            ["push", "--quiet", *(["--force"] if force else []), "origin", ref],
            cwd=self.gitdir,
            auth=True,
        )

    def give_to(self, tree: Path, user: str) -> None:
        """Give a tree to the sandbox user `uid:gid` (needed, and only possible, as root)."""
        if os.geteuid() != 0:
            return
        uid, gid = (int(x) for x in user.split(":", 1))
        for dirpath, dirnames, filenames in os.walk(tree):
            for name in [*dirnames, *filenames]:
                os.lchown(os.path.join(dirpath, name), uid, gid)
        os.lchown(tree, uid, gid)


@dataclass(frozen=True)
class FileStat:
    """One file of a change: lines added/removed (None when binary) and its new size."""

    path: str
    added: int | None
    removed: int | None
    size: int | None


def _base_env() -> dict[str, str]:
    return {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


@contextmanager
def checkout(
    url: str,
    token: str | None,
    *,
    base_branch: str | None,
    branch: str,
    parent: Path,
    timeout: float,
) -> Iterator[Checkout]:
    """A fresh checkout under `parent`, removed afterwards whatever happens."""
    parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="ws-", dir=parent))
    try:
        co = Checkout(root, token, timeout)
        co.clone(url, base_branch, branch)
        yield co
    finally:
        shutil.rmtree(root, ignore_errors=True)
