"""No way up: a non-root user with no capabilities and no new privileges, a read-only root
filesystem, no Docker socket, and setuid binaries that grant nothing."""

import io
import os
import tarfile
from pathlib import Path

import docker
import pytest

from sandbox.docker_runtime import DockerRuntime
from sandbox.errors import SandboxError
from sandbox.runtime import ContainerSpec, SandboxPolicy
from scheduler.cli.sandbox_run import EXIT_SANDBOX_ERROR
from tests.support.processes import sandbox_run

pytestmark = pytest.mark.docker

WRITES = """
for f in /x /usr/bin/x /etc/x /var/tmp/x /opt/x /home/x /workspace/../x; do
  (echo hi > "$f") 2>/dev/null && echo "wrote $f" || echo "refused $f"
done
for f in /workspace/x /tmp/x "$HOME/x"; do
  (echo hi > "$f") 2>/dev/null && echo "wrote $f" || echo "refused $f"
done
id -u; grep -E '^(NoNewPrivs|CapEff|CapPrm|CapBnd|CapAmb):' /proc/self/status
"""


def test_only_the_workspace_tmp_and_home_are_writable(env: dict[str, str], run_id: str) -> None:
    ran = sandbox_run(["--", "bash", "-c", WRITES], env, run_id=run_id)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    for path in ("/x", "/usr/bin/x", "/etc/x", "/var/tmp/x", "/opt/x", "/home/x"):
        assert f"refused {path}" in lines
    assert "refused /workspace/../x" in lines
    for path in ("/workspace/x", "/tmp/x", "/home/agent/x"):
        assert f"wrote {path}" in lines
    assert "1000" in lines
    assert "NoNewPrivs:\t1" in lines
    for cap in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert f"{cap}:\t0000000000000000" in lines


SOCKETS = """
ls -la /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock 2>&1
find / \\( -path /proc -o -path /sys \\) -prune -o \\( -type s -o -name '*.sock' \\) -print \\
  2>/dev/null | grep . || echo "no sockets"
grep -i docker /proc/net/unix || echo "no docker unix sockets"
env | grep -i docker || echo "no docker env"
"""


def test_there_is_no_docker_socket_to_find(env: dict[str, str], run_id: str) -> None:
    ran = sandbox_run(["--", "bash", "-c", SOCKETS], env, run_id=run_id)
    assert ran.code == 0, ran.err
    assert ran.out.count("No such file or directory") == 3
    assert "no sockets" in ran.out
    assert "no docker unix sockets" in ran.out and "no docker env" in ran.out


def _setuid_root_id(image: str, target: Path) -> None:
    """The image's own `id`, owned by root with the setuid bit: run by the sandbox user it
    would report uid 0 as its effective user, were setuid honoured."""
    client = docker.from_env(timeout=60)
    c = client.containers.create(image, ["true"], labels={"org.burndown.test": "setuid-copy"})
    try:
        stream, _ = c.get_archive("/usr/bin/id")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile("id")
            assert member is not None
            target.write_bytes(member.read())
    finally:
        c.remove(force=True)
        client.close()
    os.chown(target, 0, 0)
    os.chmod(target, 0o4755)


SETUID = """
ls -l ./id-setuid
./id-setuid -u; ./id-setuid -un
su -c id root < /dev/null; echo "su exit $?"
mount -t tmpfs none /tmp; echo "mount exit $?"
chfn -f x agent < /dev/null; echo "chfn exit $?"
"""


def test_setuid_binaries_grant_nothing(
    env: dict[str, str], run_id: str, tmp_path: Path, sandbox_image: str
) -> None:
    assert os.geteuid() == 0, "the test must make a root-owned setuid file"
    repo = tmp_path / "repo"
    repo.mkdir()
    _setuid_root_id(sandbox_image, repo / "id-setuid")
    os.chown(repo, 1000, 1000)
    ran = sandbox_run(["--repo", str(repo), "--", "bash", "-c", SETUID], env, run_id=run_id)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].startswith("-rwsr-xr-x 1 root root")
    assert lines[1:3] == ["1000", "agent"]  # not 0 / root: no-new-privileges ignores setuid
    for tool in ("su", "mount", "chfn"):
        code = next(line for line in lines if line.startswith(f"{tool} exit"))
        assert code != f"{tool} exit 0"


def test_gvisor_enabled_but_not_installed_is_a_clear_error(
    env: dict[str, str], run_id: str, sandbox_image: str
) -> None:
    ran = sandbox_run(
        ["--", "echo", "ran"], {**env, "BURNDOWN_SANDBOX_GVISOR": "true"}, run_id=run_id
    )
    assert ran.code == EXIT_SANDBOX_ERROR
    assert "runsc" in ran.err and "gVisor" in ran.err and "ran" not in ran.out
    spec = ContainerSpec(
        image=sandbox_image, command=["true"], policy=SandboxPolicy(runtime="runsc")
    )
    with pytest.raises(SandboxError, match="'runsc' is enabled but Docker has no such runtime"):
        DockerRuntime().run(spec, lambda _line: None)
