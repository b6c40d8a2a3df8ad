"""The workspace: a token never lands on disk, and the checkout's own .git is never trusted."""

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
