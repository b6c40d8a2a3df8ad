"""A ticket through the warm pool and the repository cache, on real parts: the API, a Celery
run worker on Redis, PostgreSQL, the scripted harness in the sandbox image, the stand-in. The
first ticket starts cold (and fills the pool and makes a spare tree); the second takes a
pre-started sandbox and a spare tree, and ends in its pull request like the first. When the
worker stops, its pool goes with it: nothing of the deployment is left."""

import json
from pathlib import Path

import docker
import httpx
from sqlmodel import select

from sandbox.harness.scripted import SCRIPT_ENV
from tests.e2e.conftest import REPO, SECRET, World
from tests.support.deployment import fix_script
from tests.support.github_standin import labeled, signed
from tests.support.processes import (
    burndown,
    free_port,
    healthy,
    leftovers_of_deployment,
    process,
    wait_for,
)
from worker.store.db import make_engine, session_scope
from worker.store.models import RunEvent


def _deliver(base: str, number: int, title: str) -> None:
    body, headers = signed(
        SECRET, labeled(repo=REPO, number=number, sender="maria", title=title, body="Teh.")
    )
    r = httpx.post(f"{base}/webhooks/github", content=body, headers=headers, timeout=10)
    assert r.status_code == 202, r.text


def _stages(db_url: str) -> dict[int, dict[str, dict[str, object]]]:
    engine = make_engine(db_url)
    found: dict[int, dict[str, dict[str, object]]] = {}
    with session_scope(engine) as s:
        for e in s.exec(select(RunEvent).where(RunEvent.kind == "stage")):
            data = json.loads(e.data)
            found.setdefault(e.run_id, {})[data["stage"]] = data
    engine.dispose()
    return found


def _pool_ready(queue: str) -> bool:
    client = docker.from_env(timeout=60)
    try:
        found = client.containers.list(
            filters={"label": [f"org.burndown.deployment={queue}", "org.burndown.pool"]}
        )
        return any(c.name.startswith("bdpool-") and c.status == "running" for c in found)
    finally:
        client.close()


def test_the_second_ticket_starts_in_a_warm_sandbox_from_the_cache(
    world: World, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    port = free_port()
    queue = world.env["BURNDOWN_QUEUE"]
    env = {
        **world.env,
        "BURNDOWN_DATABASE_URL": postgres_url,
        "BURNDOWN_BROKER_URL": redis_url,
        "BURNDOWN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BURNDOWN_HARNESS": "scripted",
        "BURNDOWN_HARNESS_ENV": json.dumps({SCRIPT_ENV: fix_script().model_dump_json()}),
        "BURNDOWN_SANDBOX_POOL_SIZE": "1",
    }
    burndown(["db", "upgrade"], env)
    logs = [tmp_path / "api.log", tmp_path / "worker.log"]
    second = world.github.create_issue(REPO, "Again", "Teh.", "maria", labels=["burndown"])
    with process(["api", "--port", str(port)], env, logs[0]), process(["worker"], env, logs[1]):
        base = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: healthy(f"{base}/healthz"), 180, logs)
        _deliver(base, world.number, "Fix the typo")
        wait_for("the first pull request", lambda: len(world.github.pulls(REPO)) == 1, 180, logs)
        wait_for("the warm pool", lambda: _pool_ready(queue), 180, logs)
        spares = tmp_path / "data" / "cache" / "trees"
        wait_for("a spare tree", lambda: list(spares.glob("*/*/ready")), 180, logs)
        _deliver(base, second, "Again")
        wait_for("the second pull request", lambda: len(world.github.pulls(REPO)) == 2, 180, logs)
        wait_for("the refilled pool", lambda: _pool_ready(queue), 180, logs)
    heads = sorted(pr["head"]["ref"] for pr in world.github.pulls(REPO))
    assert heads == sorted([f"burndown/issue-{world.number}", f"burndown/issue-{second}"])
    for pr in world.github.pulls(REPO):
        assert world.github.branch_file(REPO, pr["head"]["ref"], "README.md") == (
            "# Widgets\n\nThe widgets.\n"
        )
    first_run, second_run = (stages for _, stages in sorted(_stages(postgres_url).items()))
    assert first_run["container_start"]["warm"] is False and "tree_build" in first_run
    assert second_run["container_start"]["warm"] is True and "spare_tree" in second_run
    assert leftovers_of_deployment(queue) == []
    assert not list((tmp_path / "data" / "pool").iterdir())
