"""A label to a pull request with Burndown installed as a GitHub App (no personal token at
all): the API, a Celery worker on Redis, the real Claude Code CLI in its sandbox, git and
PyGithub with installation tokens narrowed to the one repository."""

from pathlib import Path

from tests.e2e.conftest import REPO, World
from tests.e2e.test_label_to_pr import _assert_pull_request, _deliver
from tests.support.processes import burndown, free_port, healthy, process, wait_for
from worker.github.app_auth import RUN_PERMISSIONS


def test_an_app_installation_turns_a_label_into_a_pull_request(
    world: World, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    gh = world.github
    gh.add_repo("acme/gadgets", {"README.md": "# gadgets\n"})
    app = gh.add_app("burndown", "acme")
    gh.install_app(app.app_id, "acme")
    key = tmp_path / "app.pem"
    key.write_text(app.private_key)
    port = free_port()
    env = {k: v for k, v in world.env.items() if k != "BURNDOWN_GITHUB_TOKEN"}
    env |= {
        "BURNDOWN_GITHUB_APP_ID": str(app.app_id),
        "BURNDOWN_GITHUB_APP_PRIVATE_KEY_FILE": str(key),
        "BURNDOWN_DATABASE_URL": postgres_url,
        "BURNDOWN_BROKER_URL": redis_url,
        "BURNDOWN_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    burndown(["db", "upgrade"], env)
    logs = [tmp_path / "api.log", tmp_path / "worker.log"]
    with process(["api", "--port", str(port)], env, logs[0]), process(["worker"], env, logs[1]):
        base = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: healthy(f"{base}/healthz"), 60, logs)
        _deliver(base, world)
        wait_for("the pull request", lambda: gh.pulls(REPO), 180, logs)

    pr = _assert_pull_request(world)
    assert pr["user"]["login"] == "burndown[bot]"  # type: ignore[index]
    issued = gh.issued_tokens()
    assert issued and all(t["repositories"] == [REPO] for t in issued)
    assert all(t["permissions"] == dict(RUN_PERMISSIONS) for t in issued)
    # every REST call and the push went out with an installation token: no other credential
    pushes = [p for m, p in gh.requests if p.endswith("git-receive-pack") and m == "POST"]
    assert pushes
