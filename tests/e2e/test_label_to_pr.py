"""The whole path on real parts: a signed delivery to the running API, a Celery worker on
Redis, the real Claude Code CLI in a Docker sandbox, git and PyGithub against the stand-in."""

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.e2e.conftest import FIXED, OPERATOR_TOKEN, REPO, SECRET, TITLE, World
from tests.support.github_standin import client, labeled, pull_request, signed
from tests.support.model_server import ToolCall, Turn
from tests.support.processes import (
    burndown,
    free_port,
    healthy,
    leftovers_of_deployment,
    process,
    wait_for,
)


def _deliver(base: str, w: World) -> tuple[bytes, dict[str, str]]:
    body, headers = signed(
        SECRET,
        labeled(repo=REPO, number=w.number, sender="maria", title=TITLE, body="It says Teh."),
    )
    r = httpx.post(f"{base}/webhooks/github", content=body, headers=headers, timeout=10)
    assert r.status_code == 202, r.text
    return body, headers


def _assert_pull_request(w: World) -> dict[str, object]:
    (pr,) = w.github.pulls(REPO)
    head = pr["head"]["ref"]
    assert head == f"burndown/issue-{w.number}" and pr["base"]["ref"] == "main"
    assert f"Closes #{w.number}" in pr["body"] and "claude-code" in pr["body"]
    assert w.github.branch_file(REPO, head, "README.md") == FIXED
    diff = w.github.branch_diff(REPO, "main", head)
    assert "-Teh widgets." in diff and "+The widgets." in diff and "src/app.py" not in diff
    comments = [c["body"] for c in w.github.issue_comments(REPO, w.number)]
    assert any(pr["html_url"] in c for c in comments)
    return dict(pr)


def test_a_label_becomes_a_pull_request(
    world: World, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    # The agent first dumps its environment and git config; tool output travels back to the
    # model, so the model server sees whatever the sandbox could see.
    world.model.set_script(
        [
            Turn(
                text="Looking around.",
                tool_calls=[
                    ToolCall(
                        shell="env; cat .git/config; git remote -v; "
                        "tr '\\0' '\\n' < /proc/1/environ"
                    )
                ],
            ),
            Turn(text="I'll fix it.", tool_calls=[ToolCall(shell="sed -i 's/Teh/The/' README.md")]),
            Turn(text="Fixed the typo in README.md."),
        ]
    )
    port = free_port()
    env = {
        **world.env,
        "BURNDOWN_DATABASE_URL": postgres_url,
        "BURNDOWN_BROKER_URL": redis_url,
        "BURNDOWN_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    burndown(["db", "upgrade"], env)
    logs = [tmp_path / "api.log", tmp_path / "worker.log"]
    with process(["api", "--port", str(port)], env, logs[0]), process(["worker"], env, logs[1]):
        base = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: healthy(f"{base}/healthz"), 60, logs)
        body, headers = _deliver(base, world)
        wait_for("the pull request", lambda: world.github.pulls(REPO), 180, logs)
        again = httpx.post(f"{base}/webhooks/github", content=body, headers=headers, timeout=10)
        assert again.status_code == 200  # a redelivery is recognised
        _merge_and_tell(base, world, logs)

    _assert_pull_request(world)
    seen_by_model = json.dumps([r.body for r in world.model.requests])
    assert "HOME=/home/agent" in seen_by_model  # the dump did come back
    # The sandbox reached the model only through its egress proxy, and left nothing behind.
    assert "HTTPS_PROXY=http://" in seen_by_model
    assert leftovers_of_deployment(env["BURNDOWN_QUEUE"]) == []
    for secret in (world.bot_token, SECRET, postgres_url, redis_url):
        assert secret not in seen_by_model

    out = burndown(["report"], env)
    assert f"{REPO}#{world.number}" in out and "pr_opened" in out
    assert "pull requests opened: 1" in out

    # the sync reads what the webhooks did not say: the issue GitHub closed on the merge
    assert "issues seen: 1" in burndown(["sync"], env)
    overall = json.loads(burndown(["report", "--format", "json"], env))["overall"]
    assert (overall["prs_merged"], overall["resolved"], overall["closed_in_period"]) == (1, 1, 1)
    assert overall["backlog_coverage"] == 1.0 and overall["merge_rate"] == 1.0


def _merge_and_tell(base: str, w: World, logs: list[Path]) -> None:
    """A maintainer merges the agent's pull request; GitHub closes the issue and sends the
    `pull_request` closed delivery, which the API takes and the worker records."""
    (pr,) = w.github.pulls(REPO)
    repo = client(w.github, w.bot_token).get_repo(REPO)
    merged = repo.get_pull(pr["number"]).merge(merge_method="squash")
    repo.get_issue(w.number).edit(state="closed")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    delivery = pull_request(
        "closed",
        repo=REPO,
        number=pr["number"],
        head=pr["head"]["ref"],
        updated_at=now,
        merged=True,
        merge_commit_sha=merged.sha,
    )
    body, headers = signed(SECRET, delivery, "pull_request")
    r = httpx.post(f"{base}/webhooks/github", content=body, headers=headers, timeout=10)
    assert r.status_code == 202, r.text

    def merge_recorded() -> bool:
        auth = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        summary = httpx.get(f"{base}/api/summary", timeout=30, headers=auth).json()
        return bool(summary["overall"]["prs_merged"] == 1)

    wait_for("the merge to be recorded", merge_recorded, 60, logs)


def test_burndown_up_needs_only_python_and_docker(world: World, tmp_path: Path) -> None:
    """`burndown up`: SQLite store and the embedded broker, a real Celery transport."""
    port = free_port()
    env = {**world.env, "BURNDOWN_API_PORT": str(port)}
    log = tmp_path / "up.log"
    with process(["up"], env, log):
        base = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: healthy(f"{base}/healthz"), 60, [log])
        _deliver(base, world)
        wait_for("the pull request", lambda: world.github.pulls(REPO), 180, [log])
    _assert_pull_request(world)
    assert (tmp_path / "data" / "broker.db").exists()
    out = burndown(["report"], world.env)
    assert "pull requests opened: 1" in out


def test_burndown_run_processes_one_ticket_in_the_foreground(world: World) -> None:
    out = burndown(["run", f"{REPO}#{world.number}"], world.env, timeout=180)
    pr = _assert_pull_request(world)
    assert str(pr["html_url"]) in out and "tool" in out and "Bash" in out
    again = burndown(
        ["run", f"{world.github.web_url}/{REPO}/issues/{world.number}"], world.env, timeout=180
    )
    assert str(pr["html_url"]) in again  # the open pull request is reused, not duplicated
    assert len(world.github.pulls(REPO)) == 1
