"""`BURNDOWN_DOCKER_WORKSPACE=copy` on the real engine: no bind mount at all, the tree goes in
and out through the Docker API, and comes back faithfully (edits, new files, modes, symlinks,
deletions) while the output still streams line by line."""

import os
import stat
import uuid
from pathlib import Path

import docker
import pytest

from sandbox.docker_runtime import DockerRuntime
from sandbox.errors import SandboxError
from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL, ContainerSpec, Mount, SandboxPolicy
from tests.support.processes import leftovers

pytestmark = pytest.mark.docker

SCRIPT = """
set -e
echo "uid $(id -u)"
cat keep.txt
echo changed > edit.txt
rm gone.txt
rm -r old_dir
mkdir -p new/deep && echo fresh > new/deep/file.txt
chmod +x tool.sh
chmod -x was_exec.sh
ln -s ../keep.txt new/link
ln -s /etc/hostname abs_link
for i in 1 2 3; do echo "line $i"; sleep 0.2; done
grep -c . /proc/self/mountinfo >/dev/null
if grep -q " /workspace .*bind" /proc/self/mountinfo; then echo BIND; fi
"""


def _tree(root: Path) -> None:
    (root / "keep.txt").write_text("kept\n")
    (root / "edit.txt").write_text("original\n")
    (root / "gone.txt").write_text("to delete\n")
    (root / "old_dir").mkdir()
    (root / "old_dir" / "x").write_text("x\n")
    (root / "tool.sh").write_text("echo tool\n")
    (root / "was_exec.sh").write_text("echo\n")
    os.chmod(root / "was_exec.sh", 0o755)


def _spec(image: str, ws: Path, script: str, run_id: str, **mount: bool) -> ContainerSpec:
    return ContainerSpec(
        image=image,
        command=["sh", "-c", script],
        user="1000:1000",
        mounts=[Mount(source=ws, target="/workspace", **mount)],
        labels={RUN_LABEL: run_id, DEPLOYMENT_LABEL: "copy-test"},
        policy=SandboxPolicy(timeout_seconds=120, idle_timeout_seconds=60),
    )


def test_the_tree_travels_through_the_api_and_comes_back_faithfully(
    sandbox_image: str, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    _tree(ws)  # owned by root here: inside it is the sandbox user's all the same
    run_id = f"copy-{uuid.uuid4().hex[:8]}"
    lines: list[str] = []
    exit_ = DockerRuntime(workspace="copy").run(
        _spec(sandbox_image, ws, SCRIPT, run_id), lines.append
    )
    assert exit_.exit_code == 0, exit_.stderr_tail
    assert lines[:2] == ["uid 1000", "kept"]
    assert lines[2:5] == ["line 1", "line 2", "line 3"]  # streamed as before
    assert "BIND" not in lines  # /workspace is a volume, nothing of the host is mounted

    assert (ws / "edit.txt").read_text() == "changed\n"
    assert not (ws / "gone.txt").exists() and not (ws / "old_dir").exists()
    assert (ws / "new" / "deep" / "file.txt").read_text() == "fresh\n"
    assert stat.S_IMODE((ws / "tool.sh").stat().st_mode) & 0o111 == 0o111
    assert stat.S_IMODE((ws / "was_exec.sh").stat().st_mode) & 0o111 == 0
    assert os.readlink(ws / "new" / "link") == "../keep.txt"
    assert os.readlink(ws / "abs_link") == "/etc/hostname"  # a link, not the host's file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]  # no staging left
    assert leftovers(run_id) == []
    client = docker.from_env(timeout=30)
    try:  # the anonymous volume went with the container
        assert not [v for v in client.volumes.list() if run_id in str(v.attrs.get("Labels"))]
    finally:
        client.close()


def test_a_read_only_tree_is_copied_in_and_never_back(sandbox_image: str, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    _tree(ws)
    lines: list[str] = []
    script = "cat keep.txt; echo changed > edit.txt; rm gone.txt; echo done"
    exit_ = DockerRuntime(workspace="copy").run(
        _spec(sandbox_image, ws, script, f"copy-{uuid.uuid4().hex[:8]}", read_only=True),
        lines.append,
    )
    assert exit_.exit_code == 0 and lines == ["kept", "done"]
    assert (ws / "edit.txt").read_text() == "original\n" and (ws / "gone.txt").exists()


def test_a_tree_grown_past_the_bound_is_refused_and_the_host_tree_kept(
    sandbox_image: str, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    _tree(ws)
    run_id = f"copy-{uuid.uuid4().hex[:8]}"
    script = "head -c 3000000 /dev/zero > big.bin; echo changed > edit.txt"
    runtime = DockerRuntime(workspace="copy", workspace_max_bytes=1_000_000)
    with pytest.raises(SandboxError, match="larger than 1000000 bytes"):
        runtime.run(_spec(sandbox_image, ws, script, run_id), lambda _line: None)
    assert (ws / "edit.txt").read_text() == "original\n" and not (ws / "big.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
    assert leftovers(run_id) == []
