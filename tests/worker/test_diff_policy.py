"""Diff policy rules, each on a real git change."""

import os
from pathlib import Path

import pytest

from tests.support.gitrepo import git, make_remote
from worker.diff_policy import MAX_SCAN_BYTES, DiffPolicy, check_change
from worker.git import checkout
from worker.secrets_scan import SecretScanner


def violations(
    tmp_path: Path,
    files: dict[str, bytes | str],
    policy: DiffPolicy | None = None,
    scanner: SecretScanner | None = None,
    base: dict[str, str] | None = None,
) -> list[str]:
    remote = make_remote(tmp_path, base or {"README.md": "hi\n", "big.txt": "x\n" * 10})
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
        found = check_change(
            co, co.base_sha, sha, policy or DiffPolicy(), scanner or SecretScanner()
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


TOKEN = "ghp_" + "Z9y8" * 9


@pytest.mark.parametrize(
    "name",
    ['.github/workflows/"quoted".yml', ".github/workflows/ünï.yml", ".github/workflows/a\nb.yml"],
)
def test_any_file_name_is_read_exactly(tmp_path: Path, name: str) -> None:
    (v,) = violations(tmp_path, {name: "x\n"})
    assert v == f"forbidden path at `{name}`: matches `.github/workflows/**`"


def test_added_lines_that_look_like_diff_headers_are_scanned(tmp_path: Path) -> None:
    text = f"+++ b/elsewhere\n@@ -1 +1,5 @@\n--- a/x\n{TOKEN}\n"
    found = violations(tmp_path, {"notes.txt": text})
    assert found == ["secret in added line at `notes.txt:4`: looks like a GitHub token"]


def test_binary_files_and_symlink_targets_are_scanned_whole(tmp_path: Path) -> None:
    blob = b"\0\1\2" + TOKEN.encode() + b"\0"
    remote_target = f"/tmp/{TOKEN}"
    found = violations(tmp_path, {"data.bin": blob})
    assert found == ["secret in added line at `data.bin:1`: looks like a GitHub token"]
    link_found = violations_with_link(tmp_path / "l", "link", remote_target)
    assert link_found == ["secret in added line at `link:1`: looks like a GitHub token"]


def violations_with_link(tmp_path: Path, name: str, target: str) -> list[str]:
    remote = make_remote(tmp_path, {"README.md": "hi\n"})
    with checkout(
        f"file://{remote}", None, base_branch=None, branch="b", parent=tmp_path / "ws", timeout=60
    ) as co:
        (co.path / name).symlink_to(target)
        sha = co.commit_all("m", "b", "b@x")
        assert sha is not None
        return [str(v) for v in check_change(co, co.base_sha, sha, DiffPolicy(), SecretScanner())]


def test_a_secret_in_a_file_name_is_found_and_not_repeated(tmp_path: Path) -> None:
    (v,) = violations(tmp_path, {f"keys/{TOKEN}.txt": "x\n"})
    assert v == "secret in a file name at `a changed file`: looks like a GitHub token"
    assert TOKEN not in v


def test_secrets_already_in_the_base_are_not_blamed_but_new_copies_are(tmp_path: Path) -> None:
    base = {"conf.py": f"OLD = '{TOKEN}'\n"}
    assert violations(tmp_path / "a", {"conf.py": f"OLD = '{TOKEN}'\nX = 1\n"}, base=base) == []
    twice: dict[str, bytes | str] = {"conf.py": f"OLD = '{TOKEN}'\nNEW = '{TOKEN}'\n"}
    found = violations(tmp_path / "b", twice, base=base)
    assert found == ["secret in added line at `conf.py:2`: looks like a GitHub token"]


def test_the_exact_values_burndown_holds_are_found_anywhere(tmp_path: Path) -> None:
    held = "plain-webhook-secret-value"
    scanner = SecretScanner({"BURNDOWN_GITHUB_WEBHOOK_SECRET": held, "BURNDOWN_SHORT": "abc"})
    found = violations(tmp_path, {"src/x.txt": f"a\nb{held}c\nabc\n"}, scanner=scanner)
    assert found == [
        "secret in added line at `src/x.txt:2`: holds the value of BURNDOWN_GITHUB_WEBHOOK_SECRET"
    ]


def test_attributes_in_the_change_cannot_hide_lines(tmp_path: Path) -> None:
    files: dict[str, bytes | str] = {".gitattributes": "* binary\n", "a.txt": "1\n2\n3\n4\n"}
    found = violations(tmp_path, files, DiffPolicy(max_lines=3))
    assert found == ["too many lines at `5 lines changed`: the limit is 3"]


def test_a_nested_repository_is_refused(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"README.md": "hi\n"})
    with checkout(
        f"file://{remote}", None, base_branch=None, branch="b", parent=tmp_path / "ws", timeout=60
    ) as co:
        inner = make_remote(tmp_path / "inner", {"x.txt": "x\n"})
        git("clone", "--quiet", str(inner), str(co.path / "vendor"), cwd=tmp_path)
        sha = co.commit_all("m", "b", "b@x")
        assert sha is not None
        found = [str(v) for v in check_change(co, co.base_sha, sha, DiffPolicy(), SecretScanner())]
    assert found == ["nested repository at `vendor`: submodules and embedded repositories"]


def test_a_file_name_that_is_not_utf8_is_checked_and_shown_printable(tmp_path: Path) -> None:
    name = os.fsdecode(b".github/workflows/bad\xff.yml")
    (v,) = violations(tmp_path, {name: "x\n"})
    assert (
        v == "forbidden path at `.github/workflows/bad\ufffd.yml`: matches `.github/workflows/**`"
    )
    v.encode("utf-8")  # postable as it is


def test_a_file_too_large_to_scan_is_refused_unread(tmp_path: Path) -> None:
    big = "a" * (MAX_SCAN_BYTES + 1)
    assert violations(tmp_path, {"huge.txt": big}) == [
        f"too large to scan at `huge.txt`: over {MAX_SCAN_BYTES} bytes"
    ]
