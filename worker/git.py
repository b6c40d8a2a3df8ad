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
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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

    def read_base_file(self, path: str) -> str | None:
        """A file as it is in the base commit (trusted: what the maintainers merged)."""
        names = self._run(["ls-tree", "--name-only", self.base_sha, "--", path], cwd=self.gitdir)
        if path not in names.splitlines():
            return None
        return self._run(["show", f"{self.base_sha}:{path}"], cwd=self.gitdir)

    def changed_files(self, sha: str) -> list[str]:
        out = self._run(["diff", "--name-only", self.base_sha, sha], host_view=True)
        return [line for line in out.splitlines() if line]

    def push(self, force: bool = False) -> None:
        """Push the branch to origin with the token."""
        ref = f"refs/heads/{self.branch}:refs/heads/{self.branch}"
        self._run(
            ["push", "--quiet", *(["--force"] if force else []), "origin", ref],
            cwd=self.gitdir,
            auth=True,
        )

    def chown_for(self, uid: int, gid: int) -> None:
        """Give the mounted tree to the sandbox user (only possible, and needed, as root)."""
        for dirpath, dirnames, filenames in os.walk(self.path):
            for name in [*dirnames, *filenames]:
                os.lchown(os.path.join(dirpath, name), uid, gid)
        os.lchown(self.path, uid, gid)


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
