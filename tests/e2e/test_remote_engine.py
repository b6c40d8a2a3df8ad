"""Sandboxes on a remote Docker engine: a second daemon on this machine (TCP with mutual TLS,
its own data root, nothing bind-mounted from here), the sandbox image loaded into it by
`burndown sandbox push-images`, and a labelled issue that becomes a pull request through the
real API and worker processes, with `BURNDOWN_DOCKER_WORKSPACE=copy`. The model server and the
GitHub stand-in run on this host; the remote engine's egress proxy reaches the model on the
remote network's gateway address."""

import os
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import docker
import httpx
import pytest

from sandbox.runtime import DEPLOYMENT_LABEL, ROLE_LABEL
from tests.e2e.conftest import FIXED, REPO, SECRET, TITLE, World
from tests.support.github_standin import labeled, signed
from tests.support.model_server import ScriptedModel
from tests.support.processes import burndown, free_port, healthy, process, wait_for
from tests.support.remote_engine import RemoteEngine, remote_engine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def engine(sandbox_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteEngine]:
    """The second daemon, with the sandbox image loaded through `burndown sandbox push-images`."""
    with remote_engine() as eng:
        env = {**os.environ, **eng.env()}
        env = {k: v for k, v in env.items() if not k.startswith("BURNDOWN_")}
        t0 = time.monotonic()
        out = burndown(
            ["sandbox", "push-images", "--docker-host", eng.host, "--image", sandbox_image],
            env,
            timeout=1800,
        )
        print(f"push-images took {time.monotonic() - t0:.0f}s: {out.strip()}")
        assert "loaded" in out
        again = burndown(
            ["sandbox", "push-images", "--docker-host", eng.host, "--image", sandbox_image], env
        )
        assert "already on the target" in again  # an image the engine holds is not sent again
        yield eng


@pytest.fixture
def model(engine: RemoteEngine) -> Iterator[ScriptedModel]:
    """The scripted model on this machine's address on the remote engine's egress network."""
    with ScriptedModel(host=engine.gateway) as m:
        yield m


def _containers_of(client: docker.DockerClient, deployment: str, since: int) -> list[str]:
    """The roles of the containers of `deployment` the engine created since `since`."""
    events = client.events(
        since=since,
        until=int(time.time()) + 1,
        decode=True,
        filters={
            "type": "container",
            "event": "create",
            "label": f"{DEPLOYMENT_LABEL}={deployment}",
        },
    )
    return sorted(str(e["Actor"]["Attributes"].get(ROLE_LABEL)) for e in events)


def _leftovers(client: docker.DockerClient, deployment: str) -> list[str]:
    label = {"label": f"{DEPLOYMENT_LABEL}={deployment}"}
    found = [f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
    found += [f"network {n.name}" for n in client.networks.list(filters=label)]
    found += [f"volume {v.name}" for v in client.volumes.list(filters={"dangling": True})]
    return found


def test_a_label_becomes_a_pull_request_with_sandboxes_on_a_remote_engine(
    engine: RemoteEngine, world: World, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    port = free_port()
    queue = world.env["BURNDOWN_QUEUE"]
    env = {
        **world.env,
        **engine.env(),
        "BURNDOWN_DOCKER_WORKSPACE": "copy",
        "BURNDOWN_SANDBOX_EGRESS_NETWORK": engine.egress_network,
        "BURNDOWN_DATABASE_URL": postgres_url,
        "BURNDOWN_BROKER_URL": redis_url,
        "BURNDOWN_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    since = int(time.time()) - 1
    burndown(["db", "upgrade"], env)
    logs = [tmp_path / "api.log", tmp_path / "worker.log"]
    with process(["api", "--port", str(port)], env, logs[0]), process(["worker"], env, logs[1]):
        base = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: healthy(f"{base}/healthz"), 60, logs)
        body, headers = signed(
            SECRET,
            labeled(
                repo=REPO, number=world.number, sender="maria", title=TITLE, body="It says Teh."
            ),
        )
        r = httpx.post(f"{base}/webhooks/github", content=body, headers=headers, timeout=10)
        assert r.status_code == 202, r.text
        wait_for("the pull request", lambda: world.github.pulls(REPO), 300, logs)

    (pr,) = world.github.pulls(REPO)
    head = pr["head"]["ref"]
    assert head == f"burndown/issue-{world.number}"
    assert world.github.branch_file(REPO, head, "README.md") == FIXED
    diff = world.github.branch_diff(REPO, "main", head)
    assert "+The widgets." in diff and "src/app.py" not in diff
    assert "Verified: all tests pass" in pr["body"] and not pr.get("draft")

    with closing(engine.client()) as remote, closing(docker.from_env(timeout=60)) as local:
        # Every sandbox of the run (the agent's, verification's two) and its egress proxies were
        # made on the remote engine, none on this machine's.
        roles = _containers_of(remote, queue, since)
        assert roles.count("sandbox") >= 3 and "egress-proxy" in roles, roles
        assert _containers_of(local, queue, since) == []
        assert _leftovers(remote, queue) == []
