"""The warm pool against the real Docker engine: a run takes a pre-started sandbox (its tree
moved in, its job handed over), the pool refills, a taken slot is never offered again, another
policy is never served from it, and nothing is left behind (release, drain, stop, reaper)."""

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.docker_runtime import DockerRuntime
from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL, ContainerSpec, Mount, SandboxPolicy
from sandbox.warm_pool import PoolSettings, WarmPool, pool_key
from tests.support.processes import leftovers_of_deployment

USER = "1000:1000" if os.geteuid() == 0 else f"{os.getuid()}:{os.getgid()}"


@pytest.fixture
def deployment() -> Iterator[str]:
    name = f"pool-{uuid.uuid4().hex[:8]}"
    yield name
    assert leftovers_of_deployment(name) == [], "the pool left resources behind"


@pytest.fixture
def runtime(tmp_path: Path, deployment: str) -> Iterator[DockerRuntime]:
    rt = DockerRuntime(
        api_timeout=60, pool=PoolSettings(size=1, root=tmp_path / "pool", deployment=deployment)
    )
    yield rt
    assert rt.pool is not None
    _settle(rt.pool)
    rt.pool.drain()


def _settle(pool: WarmPool) -> None:
    """Wait for background fills to end (a test never leaves one making a slot)."""
    deadline = time.monotonic() + 120
    while pool._filling and time.monotonic() < deadline:
        time.sleep(0.1)


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / f"ws-{uuid.uuid4().hex[:6]}"
    ws.mkdir()
    (ws / "hello.txt").write_text("hello from the host\n")
    if os.geteuid() == 0:
        for p in (ws, ws / "hello.txt"):
            os.chown(p, 1000, 1000)
    return ws


def _spec(
    image: str, ws: Path, deployment: str, command: list[str], **policy: object
) -> ContainerSpec:
    return ContainerSpec(
        image=image,
        command=command,
        env={"GREETING": "warm"},
        user=USER,
        mounts=[Mount(source=ws, target="/workspace")],
        labels={RUN_LABEL: f"r{uuid.uuid4().hex[:6]}", DEPLOYMENT_LABEL: deployment},
        policy=SandboxPolicy(timeout_seconds=60, idle_timeout_seconds=30, **policy),  # type: ignore[arg-type]
        warm=True,
    )


def _free(pool: WarmPool, spec: ContainerSpec) -> list[str]:
    key = pool_key(spec)
    assert key is not None
    return [str(c.id) for c in pool._free(key)]


def test_a_run_takes_a_warm_sandbox_which_is_refilled_and_never_reused(
    runtime: DockerRuntime, sandbox_image: str, tmp_path: Path, deployment: str
) -> None:
    pool = runtime.pool
    assert pool is not None
    ws = _workspace(tmp_path)
    script = "cat hello.txt; echo $GREETING; pwd; echo made > made.txt; id -u"
    spec = _spec(sandbox_image, ws, deployment, ["sh", "-c", script])
    assert pool.fill(spec) == 1
    (first,) = _free(pool, spec)
    lines: list[str] = []
    done = runtime.run(spec, lines.append)
    assert done.ok and done.warm, done
    assert lines == ["hello from the host", "warm", "/workspace", USER.split(":")[0]]
    assert (ws / "made.txt").read_text() == "made\n" and (ws / "hello.txt").exists()
    # The slot went with its run; the pool makes another in the background.
    deadline = time.monotonic() + 120
    while not _free(pool, spec):
        assert time.monotonic() < deadline, "the pool was not refilled"
        time.sleep(0.2)
    (second,) = _free(pool, spec)
    assert second != first
    again = runtime.run(_spec(sandbox_image, ws, deployment, ["true"]), lines.append)
    assert again.ok and again.warm
    _settle(pool)
    assert first not in _free(pool, spec) and second not in _free(pool, spec)


def test_a_spec_of_another_policy_is_not_served_from_the_pool(
    runtime: DockerRuntime, sandbox_image: str, tmp_path: Path, deployment: str
) -> None:
    pool = runtime.pool
    assert pool is not None
    ws = _workspace(tmp_path)
    pool.fill(_spec(sandbox_image, ws, deployment, ["true"], memory="512m"))
    cgroup = "/sys/fs/cgroup"
    limit = f"cat {cgroup}/memory.max 2>/dev/null || cat {cgroup}/memory/memory.limit_in_bytes"
    other = _spec(sandbox_image, ws, deployment, ["sh", "-c", limit])
    assert pool_key(other) != pool_key(_spec(sandbox_image, ws, deployment, [], memory="512m"))
    lines: list[str] = []
    done = runtime.run(other, lines.append)
    assert done.ok and not done.warm  # started cold, under its own policy
    assert lines == [str(4 * 2**30)]
    read_only = other.model_copy(
        update={"mounts": [Mount(source=ws, target="/workspace", read_only=True)]}
    )
    assert pool_key(read_only) is None


def test_a_warm_sandbox_runs_under_the_policy_and_its_egress_proxy(
    runtime: DockerRuntime, sandbox_image: str, tmp_path: Path, deployment: str
) -> None:
    pool = runtime.pool
    assert pool is not None
    ws = _workspace(tmp_path)
    probe = (
        "touch /etc/x 2>/dev/null && echo root-writable; "
        "cat /proc/self/status | grep CapEff; "
        "python3 -c \"import os; print(os.environ['HTTPS_PROXY'] != '')\"; "
        "python3 -c \"import urllib.request as u; u.urlopen('https://example.com', timeout=5)\" "
        "2>&1 | tail -1"
    )
    spec = _spec(sandbox_image, ws, deployment, ["sh", "-c", probe], allow_hosts=("127.0.0.1:9",))
    pool.fill(spec)
    lines: list[str] = []
    done = runtime.run(spec, lines.append)
    assert done.warm and done.exit_code == 0
    assert "root-writable" not in lines and "CapEff:\t0000000000000000" in lines
    assert "True" in lines and "Forbidden" in lines[-1]  # the proxy refused example.com
    assert any(e.host == "example.com" for e in done.egress)


def test_stop_run_and_the_reaper_find_a_taken_slot(
    runtime: DockerRuntime, sandbox_image: str, tmp_path: Path, deployment: str
) -> None:
    pool = runtime.pool
    assert pool is not None
    ws = _workspace(tmp_path)
    spec = _spec(sandbox_image, ws, deployment, ["sleep", "60"])
    pool.fill(spec)
    run_id = spec.labels[RUN_LABEL]
    slot = pool.take(spec)
    assert slot is not None
    assert runtime.stop_run(run_id, deployment) == 1
    assert runtime.stop_run(run_id, f"{deployment}-other") == 0
    _settle(pool)
    report = runtime.reap(deployment, lambda rid: False if rid == run_id else None, 0)
    assert str(slot.container.id) in report.containers
    pool.release(slot, ws)
    assert (ws / "hello.txt").exists()


def test_drain_removes_free_slots_and_their_folders(
    runtime: DockerRuntime, sandbox_image: str, tmp_path: Path, deployment: str
) -> None:
    pool = runtime.pool
    assert pool is not None
    spec = _spec(sandbox_image, _workspace(tmp_path), deployment, ["true"], allow_hosts=("a.b",))
    pool.fill(spec)
    assert len(_free(pool, spec)) == 1 and leftovers_of_deployment(deployment)
    assert pool.drain() == 1
    assert leftovers_of_deployment(deployment) == []
    assert list(pool.root.iterdir()) == []
