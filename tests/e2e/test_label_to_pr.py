"""The whole path on real parts: a signed delivery to the running API, a Celery worker on
Redis, the real Claude Code CLI in a Docker sandbox, git and PyGithub against the stand-in."""

import json
from pathlib import Path

import httpx
import redis

from tests.support.deliveries import labeled, signed
from tests.support.github_standin import GitHubStandIn
from tests.support.model_server import ScriptedModel, ToolCall, Turn
from tests.support.processes import (
    burndown,
    child_env,
    free_port,
    healthy,
    process,
    wait_for,
)

REPO = "acme/widgets"
SECRET = "e2e-webhook-secret"


def test_a_label_becomes_a_pull_request(
    github: GitHubStandIn,
    model: ScriptedModel,
    redis_url: str,
    postgres_url: str,
    sandbox_image: str,
    tmp_path: Path,
) -> None:
    bot = github.add_user("burndown-bot")
    github.add_user("maria")
    github.add_repo(REPO, {"README.md": "# Widgets\n\nTeh widgets.\n", "src/app.py": "x = 1\n"})
    github.set_permission(REPO, "maria", "maintain")
    github.set_permission(REPO, "burndown-bot", "write")
    number = github.create_issue(REPO, "Fix the typo in the README", "It says Teh.", "maria")
    github.add_label(REPO, number, "burndown")
    model.set_script(
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
    redis.Redis.from_url(redis_url).flushdb()
    port = free_port()
    env = child_env(
        {
            "BURNDOWN_DATA_DIR": str(tmp_path / "data"),
            "BURNDOWN_DATABASE_URL": postgres_url,
            "BURNDOWN_BROKER_URL": redis_url,
            "BURNDOWN_GITHUB_API_URL": github.api_url,
            "BURNDOWN_GITHUB_TOKEN": bot,
            "BURNDOWN_GITHUB_WEBHOOK_SECRET": SECRET,
            "BURNDOWN_ANTHROPIC_BASE_URL": model.base_url,
            "BURNDOWN_ANTHROPIC_API_KEY": "sk-ant-test",
            "BURNDOWN_SANDBOX_IMAGE": sandbox_image,
            "BURNDOWN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
    )
    burndown(["db", "upgrade"], env)
    logs = [tmp_path / "api.log", tmp_path / "worker.log"]
    with process(["api", "--port", str(port)], env, logs[0]), process(["worker"], env, logs[1]):
        base = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: healthy(f"{base}/healthz"), 60, logs)
        body, headers = signed(
            SECRET,
            labeled(
                repo=REPO,
                number=number,
                sender="maria",
                title="Fix the typo in the README",
                body="It says Teh.",
            ),
        )
        r = httpx.post(f"{base}/webhooks/github", content=body, headers=headers, timeout=10)
        assert r.status_code == 202, r.text
        wait_for("the pull request", lambda: github.pulls(REPO), 180, logs)
        again = httpx.post(f"{base}/webhooks/github", content=body, headers=headers, timeout=10)
        assert again.status_code == 200  # a redelivery is recognised

    (pr,) = github.pulls(REPO)
    assert pr["head"]["ref"] == f"burndown/issue-{number}" and pr["base"]["ref"] == "main"
    assert f"Closes #{number}" in pr["body"] and "claude-code" in pr["body"]
    assert github.branch_file(REPO, pr["head"]["ref"], "README.md") == "# Widgets\n\nThe widgets.\n"
    diff = github.branch_diff(REPO, "main", pr["head"]["ref"])
    assert "-Teh widgets." in diff and "+The widgets." in diff and "src/app.py" not in diff
    comments = [c["body"] for c in github.issue_comments(REPO, number)]
    assert any(pr["html_url"] in c for c in comments)
    assert any(r.api == "anthropic" for r in model.requests)
    seen_by_model = json.dumps([r.body for r in model.requests])
    assert "HOME=/home/agent" in seen_by_model  # the dump did come back
    for secret in (bot, SECRET, postgres_url, redis_url):
        assert secret not in seen_by_model

    out = burndown(["report"], env)
    assert f"{REPO}#{number}" in out and "pr_opened" in out
    assert "pull requests opened: 1" in out
