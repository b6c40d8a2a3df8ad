"""The compose stack for real: images built offline, Redis and PostgreSQL in containers, the API
container taking signed deliveries, an intake worker and two run workers in containers driving
sandboxes through the host's Docker socket, against the stand-in GitHub on this machine."""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from pathlib import Path

import docker
import httpx
import pytest

from sandbox.runtime import DEPLOYMENT_LABEL, ROLE_LABEL
from tests.deploy.compose import Stack, build_images, compose_stack, leftovers
from tests.support.github_standin import GitHubStandIn, labeled, signed
from tests.support.model_server import ScriptedModel, ToolCall, Turn
from tests.support.processes import free_port, healthy, leftovers_of_deployment

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

REPO = "acme/widgets"
SECRET = "compose-webhook-secret"
FILES = {
    "README.md": "# Widgets\n\nTeh widgets.\n",
    ".burndown.yml": "test: sh check.sh\n",
    "check.sh": 'grep -q "The widgets" README.md || { echo "not ok 1 - typo"; exit 1; }\n',
}
BURST = 3


def _world(
    github: GitHubStandIn, model: ScriptedModel, sleep_seconds: int = 4
) -> tuple[str, list[int]]:
    bot = github.add_user("burndown-bot")
    github.add_user("maria")
    github.add_repo(REPO, FILES)
    github.set_permission(REPO, "maria", "maintain")
    github.set_permission(REPO, "burndown-bot", "write")
    numbers = []
    for i in range(BURST):
        number = github.create_issue(REPO, f"Fix the typo ({i})", "It says Teh.", "maria")
        github.add_label(REPO, number, "burndown")
        numbers.append(number)
    # Each run sleeps a little so that the burst overlaps and both run workers get some of it.
    model.set_script(
        [
            Turn(text="Looking.", tool_calls=[ToolCall(shell=f"sleep {sleep_seconds}; ls")]),
            Turn(text="Fixing.", tool_calls=[ToolCall(shell="sed -i 's/Teh/The/' README.md")]),
            Turn(text="Fixed the typo in README.md."),
        ]
    )
    return bot, numbers


def _env(
    github: GitHubStandIn, model: ScriptedModel, bot: str, sandbox: str, ws: Path
) -> dict[str, str]:
    port = free_port()
    return {
        "POSTGRES_PASSWORD": uuid.uuid4().hex,
        "REDIS_PASSWORD": uuid.uuid4().hex,
        "FLOWER_BASIC_AUTH": f"admin:{uuid.uuid4().hex}",
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
        "BURNDOWN_WORKSPACES": str(ws),
        "BURNDOWN_API_PORT": str(port),
        "BURNDOWN_FLOWER_PORT": str(free_port()),
        "BURNDOWN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BURNDOWN_QUEUE": f"compose-{uuid.uuid4().hex[:8]}",
        "BURNDOWN_GITHUB_API_URL": github.api_url,
        "BURNDOWN_GITHUB_TOKEN": bot,
        "BURNDOWN_GITHUB_WEBHOOK_SECRET": SECRET,
        "BURNDOWN_ANTHROPIC_BASE_URL": model.base_url,
        "BURNDOWN_ANTHROPIC_API_KEY": "sk-ant-test",
        "BURNDOWN_SANDBOX_IMAGE": sandbox,
        "BURNDOWN_LOG_JSON": "true",
    }


RECEIVED_RUN = re.compile(r"Task burndown\.run_ticket\[[0-9a-f-]+\] received")


def _runs_taken(stack: Stack, service: str) -> dict[str, int]:
    """Run tasks each container of `service` received, from its own log."""
    return {
        str(c.name): len(RECEIVED_RUN.findall(c.logs().decode(errors="replace")))
        for c in stack.containers(service)
    }


def test_a_label_becomes_a_pull_request_through_the_compose_stack(
    github: GitHubStandIn,
    model: ScriptedModel,
    sandbox_image: str,
    workspaces: Path,
    tmp_path: Path,
) -> None:
    tags = build_images()
    assert set(tags) == {"control-plane", "services", "flower"}
    bot, numbers = _world(github, model)
    env = _env(github, model, bot, sandbox_image, workspaces)
    env["BURNDOWN_CONTROL_PLANE_IMAGE"] = tags["control-plane"]
    env["BURNDOWN_SERVICES_IMAGE"] = tags["services"]
    env["BURNDOWN_FLOWER_IMAGE"] = tags["flower"]
    base = f"http://127.0.0.1:{env['BURNDOWN_API_PORT']}"
    with compose_stack(env, tmp_path, run_workers=2) as stack:
        stack.wait("the API container", lambda: healthy(f"{base}/healthz"), 240)
        for number in numbers:
            body, headers = signed(
                SECRET, labeled(repo=REPO, number=number, sender="maria", body="It says Teh.")
            )
            r = httpx.post(f"{base}/webhooks/github", content=body, headers=headers, timeout=10)
            assert r.status_code == 202, r.text

        stack.wait("a pull request per issue", lambda: len(github.pulls(REPO)) == BURST, 420)
        taken = _runs_taken(stack, "run-worker")
        assert len(taken) == 2 and all(n >= 1 for n in taken.values()), taken
        assert sum(taken.values()) >= BURST  # the reconciler may resend a ticket left queued
        assert list(_runs_taken(stack, "intake-worker").values()) == [0]
        flower = httpx.get(
            f"http://127.0.0.1:{env['BURNDOWN_FLOWER_PORT']}/healthcheck", timeout=10
        )
        assert flower.status_code == 200
        for svc in ("redis", "postgres", "api"):
            (c,) = stack.containers(svc)
            c.reload()
            assert c.attrs["State"]["Health"]["Status"] == "healthy", svc
        project = stack.project

    for pr in github.pulls(REPO):
        assert pr["head"]["ref"] in {f"burndown/issue-{n}" for n in numbers}
        assert f"Closes #{pr['head']['ref'].rsplit('-', 1)[1]}" in pr["body"]
        assert github.branch_file(REPO, pr["head"]["ref"], "README.md") == (
            "# Widgets\n\nThe widgets.\n"
        )
    # `down -v` left nothing: no container, network or volume of the project, no sandbox.
    assert leftovers(project) == []
    assert leftovers_of_deployment(env["BURNDOWN_QUEUE"]) == []
    assert _run_files(workspaces) == []  # checkouts removed


END_STATES = {"done", "failed", "cancelled", "dead"}


def _rows(stack: Stack, password: str, sql: str) -> list[list[str]]:
    """Rows of `sql` on the stack's store, through psql in the postgres container."""
    out = stack.compose(
        "exec", "-T", "-e", f"PGPASSWORD={password}", "postgres",
        "/usr/lib/postgresql/15/bin/psql", "-h", "127.0.0.1", "-U", "burndown", "-d", "burndown",
        "-AtF", "|", "-c", sql,
    )  # fmt: skip
    return [line.split("|") for line in out.splitlines() if line]


def _all_ended(stack: Stack, password: str) -> bool:
    """Every ticket of the burst is in an end state (a psql that fails, as it may on a loaded
    machine, is asked again at the next poll)."""
    try:
        statuses = [r[0] for r in _rows(stack, password, "SELECT status FROM ticket")]
    except AssertionError:
        return False
    return len(statuses) == BURST and set(statuses) <= END_STATES


def _run_files(workspaces: Path) -> list[Path]:
    """Files the runs left in the workspaces folder: the repository cache (mirrors and spare
    trees, pruned by age and size) is kept on purpose."""
    cache = workspaces / "cache"
    return [p for p in workspaces.rglob("*") if not p.is_dir() and cache not in p.parents]


def _leftovers(queue: str) -> list[str]:
    try:
        return leftovers_of_deployment(queue)
    except (docker.errors.DockerException, OSError):  # slow on a loaded machine: ask again
        return ["(docker did not answer)"]


def _busy_sandboxes(queue: str) -> int:
    client = docker.from_env(timeout=60)
    try:
        labels = [f"{DEPLOYMENT_LABEL}={queue}", f"{ROLE_LABEL}=sandbox"]
        return len(client.containers.list(filters={"label": labels}))
    finally:
        client.close()


def test_a_run_worker_killed_mid_run_loses_nothing(
    github: GitHubStandIn,
    model: ScriptedModel,
    sandbox_image: str,
    workspaces: Path,
    tmp_path: Path,
) -> None:
    """Two run workers share a burst; one is `docker kill`ed while its sandbox runs. Its run is
    closed by the reconciler (beat and the intake worker, in their containers), and the ticket
    is run again: every ticket ends, each with exactly one pull request."""
    tags = build_images()
    bot, numbers = _world(github, model, sleep_seconds=30)
    env = _env(github, model, bot, sandbox_image, workspaces)
    env |= {
        "BURNDOWN_CONTROL_PLANE_IMAGE": tags["control-plane"],
        "BURNDOWN_SERVICES_IMAGE": tags["services"],
        "BURNDOWN_FLOWER_IMAGE": tags["flower"],
        "BURNDOWN_HEARTBEAT_INTERVAL_SECONDS": "2",
        "BURNDOWN_HEARTBEAT_TIMEOUT_SECONDS": "12",
        "BURNDOWN_RECONCILE_INTERVAL_SECONDS": "3",
        "BURNDOWN_SANDBOX_REAP_GRACE_SECONDS": "5",
    }
    base = f"http://127.0.0.1:{env['BURNDOWN_API_PORT']}"
    queue, password = env["BURNDOWN_QUEUE"], env["POSTGRES_PASSWORD"]
    with compose_stack(env, tmp_path, run_workers=2) as stack:
        stack.wait("the API container", lambda: healthy(f"{base}/healthz"), 240)
        for number in numbers:
            body, headers = signed(
                SECRET, labeled(repo=REPO, number=number, sender="maria", body="It says Teh.")
            )
            r = httpx.post(f"{base}/webhooks/github", content=body, headers=headers, timeout=10)
            assert r.status_code == 202, r.text
        # Both run workers are inside a run: each has its sandbox running (30 s of `sleep`).
        stack.wait("both run workers mid-run", lambda: _busy_sandboxes(queue) == 2, 300)
        victim = stack.containers("run-worker")[0]
        victim.kill()
        stack.wait("every ticket to reach an end state", lambda: _all_ended(stack, password), 900)
        tickets = dict(_rows(stack, password, "SELECT number, status FROM ticket"))
        runs = _rows(stack, password, "SELECT status, coalesce(error, '') FROM run ORDER BY id")
        # The lost run's sandbox was killed when its run was closed; the periodic reaper (on
        # the intake worker) removes it, its proxy and its network.
        stack.wait("the lost run's leftovers to be reaped", lambda: not _leftovers(queue), 300)
        project = stack.project

    assert tickets == {str(n): "done" for n in numbers}, (tickets, runs)
    lost = [r for r in runs if r[0] == "failed"]
    assert len(lost) == 1 and lost[0][1], runs  # the killed run, closed with its reason
    assert [r[0] for r in runs].count("succeeded") == BURST, runs
    heads = Counter(pr["head"]["ref"] for pr in github.pulls(REPO))
    assert heads == Counter({f"burndown/issue-{n}": 1 for n in numbers})  # no duplicate
    assert leftovers(project) == []  # `down -v`: no container, network or volume
    assert leftovers_of_deployment(queue) == []  # no sandbox, proxy or run network
    assert _run_files(workspaces) == []
