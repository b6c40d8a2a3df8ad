"""The workspace: a token never lands on disk, and the checkout's own .git is never trusted."""

import os
from pathlib import Path

import pytest

from tests.support.gitrepo import git, make_remote
from worker.errors import GitError
from worker.git import checkout


def test_unchanged_tree_commits_nothing(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n"})
    with checkout(
        f"file://{remote}", None, base_branch=None, branch="b/1", parent=tmp_path / "ws", timeout=60
    ) as co:
        assert co.base_branch == "main"
        assert (co.path / "a.txt").read_text() == "a\n"
        assert co.commit_all("m", "bot", "bot@x") is None


def test_changes_are_committed_and_pushed_on_the_branch(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n", "keep.txt": "k\n"})
    with checkout(
        f"file://{remote}",
        "s3cret-token",
        base_branch="main",
        branch="burndown/issue-1",
        parent=tmp_path / "ws",
        timeout=60,
    ) as co:
        (co.path / "a.txt").write_text("changed\n")
        (co.path / "new" / "b.txt").parent.mkdir()
        (co.path / "new" / "b.txt").write_text("b\n")
        (co.path / "keep.txt").unlink()
        sha = co.commit_all("Fix it", "bot", "bot@x")
        assert sha is not None
        assert sorted(f.path for f in co.diff_stats(co.base_sha, sha)) == [
            "a.txt",
            "keep.txt",
            "new/b.txt",
        ]
        co.push()
        for cfg in [co.path / ".git" / "config", co.gitdir / "config"]:
            assert "s3cret-token" not in cfg.read_text()
        root = co.root
    assert not root.exists()
    assert git("show", "burndown/issue-1:a.txt", cwd=remote) == "changed"
    assert git("log", "-1", "--format=%an %s", "burndown/issue-1", cwd=remote) == "bot Fix it"


def test_hostile_git_config_in_the_checkout_does_not_run_on_the_host(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n"})
    pwned = tmp_path / "pwned"
    with checkout(
        f"file://{remote}", None, base_branch=None, branch="b", parent=tmp_path / "ws", timeout=60
    ) as co:
        hook = f"#!/bin/sh\ntouch {pwned}\n"
        (co.path / ".git" / "hooks" / "pre-commit").write_text(hook)
        (co.path / ".git" / "hooks" / "pre-commit").chmod(0o755)
        with (co.path / ".git" / "config").open("a") as f:
            f.write(f'[core]\n\tfsmonitor = touch {pwned}\n[filter "x"]\n\tclean = touch {pwned}\n')
        (co.path / ".gitattributes").write_text("* filter=x\n")
        (co.path / "a.txt").write_text("b\n")
        assert co.commit_all("m", "bot", "bot@x") is not None
    assert not pwned.exists()


def test_a_missing_repository_is_a_git_error_without_the_token(tmp_path: Path) -> None:
    with (
        pytest.raises(GitError) as err,
        checkout(
            f"file://{tmp_path}/nope.git",
            "tok-123",
            base_branch=None,
            branch="b",
            parent=tmp_path / "ws",
            timeout=60,
        ),
    ):
        pass
    assert "tok-123" not in str(err.value)
    assert list((tmp_path / "ws").iterdir()) == []


def _inodes(tree: Path) -> set[tuple[int, int]]:
    return {(p.lstat().st_dev, p.lstat().st_ino) for p in tree.rglob("*") if p.is_file()}


def test_the_checkout_shares_no_inode_with_the_hosts_repository(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n" * 100})
    with checkout(
        f"file://{remote}", None, base_branch=None, branch="b", parent=tmp_path / "ws", timeout=60
    ) as co:
        assert _inodes(co.gitdir)
        assert _inodes(co.path) & _inodes(co.gitdir) == set()
        assert co.gitdir.resolve() not in [p.resolve() for p in co.path.rglob("*")]


def test_rewriting_everything_in_the_checkout_cannot_change_the_base_or_the_push(
    tmp_path: Path,
) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n", "b.txt": "b\n"})
    with checkout(
        f"file://{remote}", None, base_branch=None, branch="b", parent=tmp_path / "ws", timeout=60
    ) as co:
        base, base_tree = co.base_sha, git("rev-parse", "HEAD^{tree}", cwd=co.gitdir)
        for p in sorted(co.path.joinpath(".git").rglob("*"), reverse=True):
            if p.is_file() and not p.is_symlink():
                p.chmod(0o644)  # what the agent, owning its checkout, may do
                with p.open("r+b") as f:  # in place: a hardlink would carry this to the host
                    f.write(b"\0garbage" * 8)
        (co.path / ".git" / "refs" / "heads" / "evil").write_text("0" * 40 + "\n")
        (co.path / "a.txt").write_text("changed\n")
        sha = co.commit_all("m", "bot", "bot@x")
        assert sha is not None
        assert co.rev("main") == base
        assert git("rev-parse", f"{sha}^", cwd=co.gitdir) == base
        assert git("rev-parse", "HEAD^{tree}", cwd=co.gitdir) == base_tree
        git("fsck", "--strict", cwd=co.gitdir)
        assert [(s.path, s.status) for s in co.changes(base, sha)] == [("a.txt", "M")]
        co.push()
    assert git("show", "b:a.txt", cwd=remote) == "changed"
    assert git("show", "b:b.txt", cwd=remote) == "b"


def test_links_and_special_files_in_the_tree_are_data(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n"})
    host_file = tmp_path / "host-secret.txt"
    host_file.write_text("only the host may read this\n")
    with checkout(
        f"file://{remote}", None, base_branch=None, branch="b", parent=tmp_path / "ws", timeout=60
    ) as co:
        (co.path / "leak").symlink_to(host_file)
        (co.path / "dir").symlink_to(tmp_path)
        os.mkfifo(co.path / "pipe")
        sha = co.commit_all("m", "bot", "bot@x")
        assert sha is not None
        stats = {s.path: s for s in co.changes(co.base_sha, sha)}
        assert sorted(stats) == ["dir", "leak"]
        assert stats["leak"].new_mode == "120000"
        assert co.blobs([stats["leak"].new_blob]) == {
            stats["leak"].new_blob: str(host_file).encode()
        }


def test_the_export_has_every_file_whatever_the_attributes_say(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n"})
    with checkout(
        f"file://{remote}", None, base_branch=None, branch="b", parent=tmp_path / "ws", timeout=60
    ) as co:
        (co.path / ".gitattributes").write_text("tests/** export-ignore\n* export-subst\n")
        (co.path / "tests").mkdir()
        (co.path / "tests" / "test_x.py").write_text("assert False  # $Format:%H$\n")
        sha = co.commit_all("m", "bot", "bot@x")
        assert sha is not None
        out = co.export(sha, tmp_path / "export")
        assert (out / "tests" / "test_x.py").read_text() == "assert False  # $Format:%H$\n"
        assert not (out / ".git").exists()
