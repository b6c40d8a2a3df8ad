"""Diff policy rules, each on a real git change."""

from pathlib import Path

import pytest

from tests.support.gitrepo import make_remote
from worker.diff_policy import DiffPolicy, check_diff
from worker.git import checkout


def violations(
    tmp_path: Path,
    files: dict[str, bytes | str],
    policy: DiffPolicy | None = None,
) -> list[str]:
    remote = make_remote(tmp_path, {"README.md": "hi\n", "big.txt": "x\n" * 10})
    with checkout(
        f"file://{remote}", None, base_branch=None, branch="b", parent=tmp_path / "ws", timeout=60
    ) as co:
        for name, content in files.items():
            p = co.path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content)
        sha = co.commit_all("m", "b", "b@x")
        assert sha is not None
        found = check_diff(
            co.diff_stats(co.base_sha, sha),
            co.added_lines(co.base_sha, sha),
            policy or DiffPolicy(),
        )
    return [str(v) for v in found]


def test_an_ordinary_change_passes(tmp_path: Path) -> None:
    assert violations(tmp_path, {"README.md": "hello\n", "src/a.py": "x = 1\n"}) == []


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        (".github/workflows/ci.yml", ".github/workflows/**"),
        (".env", "**/.env"),
        ("deploy/server.pem", "**/*.pem"),
        ("home/.ssh/id_rsa", "**/id_rsa*"),
    ],
)
def test_forbidden_paths(tmp_path: Path, path: str, pattern: str) -> None:
    (v,) = violations(tmp_path, {path: "x\n"})
    assert v == f"forbidden path at `{path}`: matches `{pattern}`"


def test_secrets_in_added_lines_are_found_with_their_line(tmp_path: Path) -> None:
    token = "ghp_" + "a1B2" * 9
    found = violations(tmp_path, {"src/conf.py": f"x = 1\nTOKEN = '{token}'\n"})
    assert found == ["secret in added line at `src/conf.py:2`: looks like a GitHub token"]


def test_limits(tmp_path: Path) -> None:
    files: dict[str, bytes | str] = {f"f{i}.txt": "a\nb\n" for i in range(5)}
    found = violations(tmp_path, files, DiffPolicy(max_files=3, max_lines=4))
    assert found == [
        "too many files at `5 files`: the limit is 3",
        "too many lines at `10 lines changed`: the limit is 4",
    ]


def test_large_binaries(tmp_path: Path) -> None:
    found = violations(
        tmp_path,
        {"blob.bin": bytes(range(256)) * 20, "ok.bin": b"\0\1"},
        DiffPolicy(max_binary_bytes=1000),
    )
    assert found == ["large binary at `blob.bin`: 5120 bytes; the limit is 1000"]


def test_deletions_count_as_lines(tmp_path: Path) -> None:
    remote_files = violations(tmp_path, {"big.txt": ""}, DiffPolicy(max_lines=5))
    assert remote_files == ["too many lines at `10 lines changed`: the limit is 5"]
