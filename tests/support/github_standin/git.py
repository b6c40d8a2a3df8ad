"""Git plumbing for the GitHub stand-in: bare repositories driven by real ``git`` subprocesses.

Nothing here keeps state of its own; every call runs ``git`` with a timeout against a bare
repository on disk, with an environment isolated from the user's git configuration.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GIT_TIMEOUT = 60.0
"""Seconds any single git command may take."""

_SEP = "\x1f"


def git_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for git: no system/global config, no prompts, fixed identity, UTC dates."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TZ": "UTC",
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "safe.directory",
        "GIT_CONFIG_VALUE_0": "*",
        "GIT_AUTHOR_NAME": "GitHub",
        "GIT_AUTHOR_EMAIL": "noreply@github.com",
        "GIT_COMMITTER_NAME": "GitHub",
        "GIT_COMMITTER_EMAIL": "noreply@github.com",
    }
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    sha: str
    size: int
    name: str


@dataclass(frozen=True)
class FileChange:
    filename: str
    status: str
    additions: int
    deletions: int
    sha: str
    patch: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author_name: str
    author_email: str
    author_date: str
    committer_name: str
    committer_email: str
    committer_date: str
    message: str


@dataclass(frozen=True)
class CgiResult:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class BareRepo:
    """A bare repository on disk, read and written with git plumbing commands."""

    def __init__(self, path: Path, home: Path) -> None:
        self.path = path
        self.home = home

    def git(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``git --git-dir=<repo> ARGS``; raise ``CalledProcessError`` if ``check``."""
        return subprocess.run(
            ["git", f"--git-dir={self.path}", *args],
            input=stdin,
            capture_output=True,
            env=git_env(self.home, env),
            timeout=GIT_TIMEOUT,
            check=check,
        )

    def out(self, *args: str, stdin: bytes | None = None) -> str:
        return self.git(*args, stdin=stdin).stdout.decode().strip()

    @classmethod
    def create(
        cls, path: Path, home: Path, default_branch: str, files: Mapping[str, str]
    ) -> BareRepo:
        """Create a bare repository whose ``default_branch`` has one commit holding ``files``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path)],
            capture_output=True,
            env=git_env(home),
            timeout=GIT_TIMEOUT,
            check=True,
        )
        repo = cls(path, home)
        repo.git("config", "http.receivepack", "true")
        index = {"GIT_INDEX_FILE": str(path / "standin-index")}
        for name, text in sorted(files.items()):
            blob = repo.out("hash-object", "-w", "--stdin", stdin=text.encode())
            repo.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", env=index)
        tree = repo.git("write-tree", env=index).stdout.decode().strip()
        (path / "standin-index").unlink(missing_ok=True)
        commit = repo.out("commit-tree", tree, "-m", "Initial commit")
        repo.git("update-ref", f"refs/heads/{default_branch}", commit)
        return repo

    def rev_parse(self, rev: str) -> str | None:
        """The commit ``rev`` names, or None."""
        result = self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def branch_sha(self, branch: str) -> str | None:
        return self.rev_parse(f"refs/heads/{branch}")

    def object_type(self, spec: str) -> str | None:
        result = self.git("cat-file", "-t", spec, check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def blob(self, rev: str, path: str) -> bytes | None:
        """Contents of ``path`` at ``rev``, or None when it is not a file there."""
        if self.object_type(f"{rev}:{path}") != "blob":
            return None
        return self.git("cat-file", "blob", f"{rev}:{path}").stdout

    def ls_tree(self, rev: str, path: str) -> list[TreeEntry]:
        """Entries of the directory ``path`` (``""`` for the root) at ``rev``."""
        raw = self.git("ls-tree", "-l", "-z", f"{rev}:{path}").stdout.decode()
        entries = []
        for record in filter(None, raw.split("\0")):
            meta, name = record.split("\t", 1)
            mode, kind, sha, size = meta.split()
            entries.append(TreeEntry(mode, kind, sha, 0 if size == "-" else int(size), name))
        return entries

    def refs(self, prefix: str = "refs/") -> list[tuple[str, str, str]]:
        """``(refname, sha, object type)`` for every ref under ``prefix``."""
        fmt = f"%(refname){_SEP}%(objectname){_SEP}%(objecttype)"
        raw = self.out("for-each-ref", f"--format={fmt}", prefix)
        return [(r[0], r[1], r[2]) for r in (line.split(_SEP) for line in raw.splitlines())]

    def update_ref(self, ref: str, new: str, old: str | None = None) -> bool:
        """Move ``ref`` to ``new`` if it still points at ``old`` (when given)."""
        args = ["update-ref", ref, new] + ([old] if old is not None else [])
        return self.git(*args, check=False).returncode == 0

    def delete_ref(self, ref: str) -> bool:
        return self.git("update-ref", "-d", ref, check=False).returncode == 0

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        args = ("merge-base", "--is-ancestor", ancestor, descendant)
        return self.git(*args, check=False).returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        result = self.git("merge-base", a, b, check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def count_commits(self, base: str, head: str) -> int:
        return int(self.out("rev-list", "--count", f"{base}..{head}"))

    def diff(self, base: str, head: str) -> str:
        """``git diff base...head``: what ``head`` changed since it forked from ``base``."""
        return self.git("diff", "--no-renames", f"{base}...{head}").stdout.decode()

    def changed_files(self, base: str, head: str) -> list[FileChange]:
        """Files ``head`` changed since forking from ``base``, as on a pull request's Files tab."""
        fork = self.merge_base(base, head) or base
        names = self.out("diff", "--no-renames", "--name-status", "-z", fork, head).split("\0")
        stats = self.out("diff", "--no-renames", "--numstat", "-z", fork, head).split("\0")
        counts = {}
        for record in filter(None, stats):
            added, deleted, name = record.split("\t", 2)
            counts[name] = (
                int(added) if added != "-" else 0,
                int(deleted) if deleted != "-" else 0,
            )
        kinds = {"A": "added", "D": "removed", "M": "modified", "T": "changed"}
        changes = []
        for code, name in zip(names[0::2], names[1::2], strict=False):
            if not name:
                continue
            patch = self.git("diff", "--no-renames", fork, head, "--", name).stdout.decode()
            hunk = patch.find("\n@@")
            blob_rev = fork if code == "D" else head
            changes.append(
                FileChange(
                    filename=name,
                    status=kinds.get(code, "modified"),
                    additions=counts.get(name, (0, 0))[0],
                    deletions=counts.get(name, (0, 0))[1],
                    sha=self.out("rev-parse", f"{blob_rev}:{name}"),
                    patch=patch[hunk + 1 :].rstrip("\n") if hunk >= 0 else "",
                )
            )
        return changes

    def merge_tree(self, base: str, head: str, merge_base: str | None = None) -> str | None:
        """Tree of merging ``head`` into ``base``, or None on conflicts."""
        args = ["merge-tree", "--write-tree"]
        args += [f"--merge-base={merge_base}"] if merge_base else []
        result = self.git(*args, base, head, check=False)
        return result.stdout.decode().split("\n", 1)[0] if result.returncode == 0 else None

    def commit_info(self, rev: str) -> CommitInfo | None:
        sha = self.rev_parse(rev)
        if sha is None:
            return None
        fields = ["%H", "%T", "%P", "%an", "%ae", "%ad", "%cn", "%ce", "%cd", "%B"]
        fmt = "--format=" + _SEP.join(fields)
        date = "--date=format-local:%Y-%m-%dT%H:%M:%SZ"
        parts = self.git("show", "-s", date, fmt, sha).stdout.decode().split(_SEP)
        return CommitInfo(
            sha=parts[0],
            tree=parts[1],
            parents=parts[2].split(),
            author_name=parts[3],
            author_email=parts[4],
            author_date=parts[5],
            committer_name=parts[6],
            committer_email=parts[7],
            committer_date=parts[8],
            message=parts[9].rstrip("\n"),
        )

    def log(self, rev: str, since: str | None = None, until: str | None = None) -> list[str]:
        """Commits reachable from ``rev``, newest first (by commit date, as GitHub lists them),
        committed at or after ``since`` and at or before ``until`` (ISO 8601)."""
        args = ["rev-list", "--date-order", rev]
        args += [f"--since={since}"] if since else []
        args += [f"--until={until}"] if until else []
        return self.out(*args).split()

    def commit(
        self, tree: str, parents: Sequence[str], message: str, author: tuple[str, str, str | None]
    ) -> str:
        """Write a commit object; ``author`` is ``(name, email, date or None for now)``."""
        name, email, date = author
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
        env |= {"GIT_AUTHOR_DATE": date} if date else {}
        args = ["commit-tree", tree, "-m", message]
        for parent in parents:
            args += ["-p", parent]
        return self.git(*args, env=env).stdout.decode().strip()

    def merge(
        self, base_ref: str, head_sha: str, method: str, message: str, author: tuple[str, str]
    ) -> str | None:
        """Merge ``head_sha`` into branch ``base_ref`` by ``method`` (merge, squash, rebase).

        Returns the new tip of ``base_ref``, or None on conflicts or a concurrent base update.
        """
        base_sha = self.branch_sha(base_ref)
        if base_sha is None:
            return None
        if method == "rebase":
            tip = base_sha
            listing = self.out("rev-list", "--reverse", "--no-merges", f"{base_sha}..{head_sha}")
            for sha in listing.split():
                info = self.commit_info(sha)
                assert info is not None
                parent = info.parents[0] if info.parents else None
                tree = self.merge_tree(tip, sha, parent)
                if tree is None:
                    return None
                who = (info.author_name, info.author_email, info.author_date)
                tip = self.commit(tree, [tip], info.message, who)
        else:
            tree = self.merge_tree(base_sha, head_sha)
            if tree is None:
                return None
            parents = [base_sha, head_sha] if method == "merge" else [base_sha]
            tip = self.commit(tree, parents, message, (*author, None))
        return tip if self.update_ref(f"refs/heads/{base_ref}", tip, base_sha) else None


def run_http_backend(
    project_root: Path, home: Path, cgi_env: Mapping[str, str], body: bytes
) -> CgiResult:
    """Run ``git http-backend`` as a CGI program and parse its response."""
    env = git_env(home, {"GIT_PROJECT_ROOT": str(project_root), "GIT_HTTP_EXPORT_ALL": "1"})
    env.update(cgi_env)
    result = subprocess.run(
        ["git", "http-backend"],
        input=body,
        capture_output=True,
        env=env,
        timeout=GIT_TIMEOUT,
        check=False,
    )
    raw = result.stdout
    if result.returncode != 0 and not raw:
        return CgiResult(500, [("Content-Type", "text/plain")], result.stderr)
    head, rest = raw, b""
    for separator in (b"\r\n\r\n", b"\n\n"):
        if separator in raw:
            head, rest = raw.split(separator, 1)
            break
    status, headers = 200, []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.split()[0])
        elif name:
            headers.append((name.strip(), value.strip()))
    return CgiResult(status, headers, rest)
