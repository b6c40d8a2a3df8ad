"""`burndown doctor`: a new user's empty setup is named check by check with its fix; a
working setup passes; each broken connection is caught (stand-in GitHub, real Redis, store,
Docker)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from scheduler.cli.doctor_checks import Check, check_broker, check_github, check_image, run_checks
from tests.conftest import require_env
from tests.support.github_standin import GitHubStandIn
from tests.support.processes import burndown, child_env, free_port, process, wait_for
from worker.settings import Settings
from worker.store.migrate import upgrade

REPO = "acme/widgets"


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as standin:
        yield standin


@pytest.fixture
def redis_url() -> str:
    return require_env("BURNDOWN_TEST_REDIS_URL")


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **kw)  # type: ignore[call-arg]


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_a_first_start_with_nothing_configured_says_what_is_missing(tmp_path: Path) -> None:
    env = child_env({"BURNDOWN_DATA_DIR": str(tmp_path / "data")})
    with pytest.raises(AssertionError) as failed:
        burndown(["doctor"], env)
    out = str(failed.value)
    assert "exited 1" in out
    for expected in (
        "FAIL github",
        "BURNDOWN_GITHUB_APP_ID",
        "FAIL intake",
        "BURNDOWN_POLL_REPOS",
        "FAIL store",
        "burndown db upgrade",
        "FAIL model",
        "BURNDOWN_ANTHROPIC_API_KEY",
    ):
        assert expected in out, expected


def test_a_working_setup_passes(gh: GitHubStandIn, tmp_path: Path, redis_url: str) -> None:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    s = _settings(
        tmp_path,
        github_api_url=gh.api_url,
        github_token=SecretStr(token),
        poll_repos=[REPO],
        broker_url=redis_url,
        anthropic_api_key=SecretStr("sk-ant-test"),
        anthropic_base_url=gh.web_url,  # any HTTP server on loopback answers
        sandbox_image="burndown-sandbox:latest",
    )
    upgrade(s.resolved_database_url())
    checks = _by_name(run_checks(s))
    assert all(c.ok for c in checks.values()), checks
    assert "acme" in checks["github"].detail and "polling" in checks["intake"].detail


def test_refused_credentials_are_caught(gh: GitHubStandIn, tmp_path: Path) -> None:
    gh.add_repo(REPO, {"README.md": "# w\n"})
    bad = check_github(
        _settings(tmp_path, github_api_url=gh.api_url, github_token=SecretStr("ghp_wrong"))
    )
    assert not bad.ok and "401" in bad.detail and "GITHUB_TOKEN" in bad.fix


def test_a_github_app_is_checked_with_its_jwt(gh: GitHubStandIn, tmp_path: Path) -> None:
    gh.add_repo(REPO, {"README.md": "# w\n"})
    app = gh.add_app("burndown", "acme")
    gh.install_app(app.app_id, "acme")
    key = tmp_path / "app.pem"
    key.write_text(app.private_key)
    s = _settings(
        tmp_path,
        github_api_url=gh.api_url,
        github_app_id=str(app.app_id),
        github_app_private_key_file=key,
    )
    good = check_github(s)
    assert good.ok and "installed on 1 repositories" in good.detail
    key.write_text(gh.add_app("other", "acme").private_key)  # another App's key
    wrong = check_github(s)
    assert not wrong.ok and "JWT" in wrong.detail and "private key" in wrong.fix
    narrow = gh.add_app("narrow", "acme", {"issues": "write", "metadata": "read"})
    key.write_text(narrow.private_key)
    s = _settings(
        tmp_path,
        github_api_url=gh.api_url,
        github_app_id=str(narrow.app_id),
        github_app_private_key_file=key,
    )
    lacking = check_github(s)
    assert not lacking.ok and "contents: write" in lacking.fix


def test_an_unreachable_broker_and_a_missing_image_are_caught(tmp_path: Path) -> None:
    s = _settings(
        tmp_path,
        broker_url=f"redis://127.0.0.1:{free_port()}/0",
        sandbox_image="burndown-sandbox:no-such-tag",
    )
    broker, image = check_broker(s), check_image(s)
    assert not broker.ok and "Redis" in broker.detail and "BURNDOWN_BROKER_URL" in broker.fix
    assert not image.ok and "burndown sandbox build" in image.fix


def test_up_with_nothing_configured_names_what_is_missing(tmp_path: Path) -> None:
    port = free_port()
    env = child_env({"BURNDOWN_DATA_DIR": str(tmp_path / "data"), "BURNDOWN_API_PORT": str(port)})
    log = tmp_path / "up.log"
    with process(["up"], env, log):
        wait_for("the start", lambda: "burndown is up" in log.read_text(), 120, [log])
        text = log.read_text()
    assert "not ready: github" in text and "BURNDOWN_GITHUB_APP_ID" in text
    assert "not ready: intake" in text and "burndown doctor" in text
