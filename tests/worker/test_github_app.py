"""GitHub App authentication through the stand-in's App endpoints: the JWT, the installation,
installation tokens narrowed to one repository, cached and replaced before they expire."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from pydantic import SecretStr

from scheduler.jobs.polling import polled_repositories
from tests.support.github_standin import Git, GitHubStandIn
from tests.support.github_standin.apps import AppKeys
from worker.errors import ConfigError, GitHubError
from worker.github.app_auth import RUN_PERMISSIONS, GitHubApp, StaticToken, app_jwt
from worker.github.client import PyGithubClient
from worker.settings import Settings
from worker.wiring import github_tokens

REPO, OTHER = "acme/widgets", "acme/gadgets"


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as standin:
        yield standin


@pytest.fixture
def keys(gh: GitHubStandIn) -> AppKeys:
    gh.add_repo(REPO, {"README.md": "# w\n"}, private=True)
    gh.add_repo(OTHER, {"README.md": "# g\n"}, private=True)
    app = gh.add_app("burndown", "acme")
    gh.install_app(app.app_id, "acme")
    return app


def _app(gh: GitHubStandIn, keys: AppKeys, **kw: object) -> GitHubApp:
    return GitHubApp(gh.api_url, str(keys.app_id), SecretStr(keys.private_key), timeout=10, **kw)  # type: ignore[arg-type]


def _get(gh: GitHubStandIn, path: str, bearer: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"}
    return httpx.get(f"{gh.api_url}{path}", headers=headers, timeout=10)


def test_the_standin_verifies_the_apps_jwt(gh: GitHubStandIn, keys: AppKeys) -> None:
    now = time.time()
    good = _get(gh, "/app", app_jwt(str(keys.app_id), keys.private_key, now))
    assert good.status_code == 200 and good.json()["slug"] == "burndown"
    by_client_id = _get(gh, "/app", app_jwt(keys.client_id, keys.private_key, now))
    assert by_client_id.status_code == 200

    stranger = gh.add_app("other", "acme")  # signed with another App's key
    forged = _get(gh, "/app", app_jwt(str(keys.app_id), stranger.private_key, now))
    assert forged.status_code == 401
    claims = {"iat": int(now) - 60, "exp": int(now) + 3600, "iss": str(keys.app_id)}
    too_long = jwt.encode(claims, keys.private_key, algorithm="RS256")
    answer = _get(gh, "/app", too_long)
    assert answer.status_code == 401 and "too far in the future" in answer.json()["message"]
    expired = _get(gh, "/app", app_jwt(str(keys.app_id), keys.private_key, now - 1200))
    assert expired.status_code == 401
    # A JWT is for the App's endpoints only, not for a repository's.
    as_app = app_jwt(str(keys.app_id), keys.private_key, now)
    assert _get(gh, f"/repos/{REPO}/issues", as_app).status_code == 403
    assert _get(gh, f"/repos/{REPO}/installation", "ghs_nonsense").status_code == 401


def test_a_token_is_narrowed_to_one_repository_and_the_runs_permissions(
    gh: GitHubStandIn, keys: AppKeys
) -> None:
    app = _app(gh, keys)
    token = app.token(REPO)
    assert len(token) > 400  # the long format: nothing may assume 40 characters
    (issued,) = gh.issued_tokens()
    assert issued["repositories"] == [REPO] and issued["permissions"] == dict(RUN_PERMISSIONS)

    client = PyGithubClient(gh.api_url, token, timeout=10, retries=0)
    number = gh.create_issue(REPO, "Fix it", "", "acme")
    assert client.get_issue(REPO, number).title == "Fix it"
    client.comment(REPO, number, "on it", key="status-1")
    assert gh.issue_comments(REPO, number)[0]["user"]["login"] == "burndown[bot]"
    with pytest.raises(GitHubError, match="404"):  # same installation, outside the token
        client.get_repo(OTHER)


def test_a_token_without_a_permission_is_refused(gh: GitHubStandIn, keys: AppKeys) -> None:
    app = _app(gh, keys, permissions={"issues": "read", "metadata": "read"})
    client = PyGithubClient(gh.api_url, app, timeout=10, retries=0)
    number = gh.create_issue(REPO, "Fix it", "", "acme")
    assert client.get_issue(REPO, number).number == number
    with pytest.raises(GitHubError, match="403"):
        client.comment(REPO, number, "on it")
    greedy = _app(gh, keys, permissions={"administration": "write"})
    with pytest.raises(GitHubError, match="422"):
        greedy.token(REPO)


def test_tokens_are_cached_per_repository_and_replaced_before_they_expire(
    gh: GitHubStandIn, keys: AppKeys
) -> None:
    gh.set_token_lifetime(303)  # expires 3 s after the 300 s refresh margin begins
    app = _app(gh, keys, refresh_margin=300.0)
    first = app.token(REPO)
    assert app.token(REPO) == first and app.token(REPO.upper()) == first
    other = app.token(OTHER)
    assert other != first and len(gh.issued_tokens()) == 2
    finds = [p for m, p in gh.requests if p.endswith("/installation")]
    assert len(finds) == 2  # the installation is looked up once per repository
    time.sleep(3.1)
    fresh = app.token(REPO)
    assert fresh != first and len(gh.issued_tokens()) == 3
    assert len([p for m, p in gh.requests if p.endswith("/installation")]) == 2


def test_an_expired_token_is_refused_and_the_client_gets_a_new_one(
    gh: GitHubStandIn, keys: AppKeys
) -> None:
    gh.set_token_lifetime(2)
    app = _app(gh, keys, refresh_margin=1.0)
    client = PyGithubClient(gh.api_url, app, timeout=10, retries=0)
    number = gh.create_issue(REPO, "Fix it", "", "acme")
    stale = app.token(REPO)
    time.sleep(2.2)
    raw = httpx.get(
        f"{gh.api_url}/repos/{REPO}", headers={"Authorization": f"token {stale}"}, timeout=10
    )
    assert raw.status_code == 401
    assert client.get_issue(REPO, number).number == number
    assert len(gh.issued_tokens()) == 2


def test_git_with_an_installation_token_reaches_only_its_repository(
    gh: GitHubStandIn, keys: AppKeys, tmp_path: Path
) -> None:
    app = _app(gh, keys)
    git = Git(tmp_path, app.token(REPO))
    work = git.clone(gh.git_url(REPO))
    git.commit_and_push(work, {"a.txt": "a\n"}, "burndown/issue-1")
    assert gh.branch_sha(REPO, "burndown/issue-1") is not None
    refused = git.run("clone", gh.git_url(OTHER), str(tmp_path / "other"))
    assert refused.returncode != 0 and "not found" in refused.stderr.lower()
    reader = _app(gh, keys, permissions={"contents": "read", "metadata": "read"})
    read_only = Git(tmp_path / "ro", reader.token(REPO))
    work = read_only.clone(gh.git_url(REPO))
    pushed = read_only.run("push", "origin", "HEAD:refs/heads/x", cwd=work)
    assert pushed.returncode != 0 and "403" in pushed.stderr


def test_a_repository_the_app_is_not_installed_on(gh: GitHubStandIn, keys: AppKeys) -> None:
    gh.add_repo("elsewhere/thing", {"README.md": "x\n"})
    with pytest.raises(GitHubError, match="404"):
        _app(gh, keys).token("elsewhere/thing")


def test_wiring_chooses_the_app_or_the_token(
    tmp_path: Path, keys: AppKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TOKEN", "APP_ID", "APP_PRIVATE_KEY", "APP_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(f"BURNDOWN_GITHUB_{name}", raising=False)
    pem = tmp_path / "app.pem"
    pem.write_text(keys.private_key)
    app = Settings(github_app_id="1", github_app_private_key_file=pem, _env_file=None)
    assert isinstance(github_tokens(app), GitHubApp)
    token = Settings(github_token=SecretStr("ghp_x"), _env_file=None)
    assert isinstance(github_tokens(token), StaticToken)
    assert github_tokens(token).token(REPO) == "ghp_x"
    with pytest.raises(ConfigError, match="PRIVATE_KEY"):
        github_tokens(Settings(github_app_id="2", _env_file=None))
    with pytest.raises(ConfigError, match="no GitHub credentials"):
        github_tokens(Settings(_env_file=None))


def test_polling_whole_installations_lists_their_repositories(
    gh: GitHubStandIn, keys: AppKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gh.add_repo("zeta/tool", {"README.md": "z\n"})
    gh.install_app(keys.app_id, "zeta", ["zeta/tool"])
    gh.add_repo("zeta/other", {"README.md": "o\n"})  # not in the installation
    pem = tmp_path / "app.pem"
    pem.write_text(keys.private_key)
    monkeypatch.delenv("BURNDOWN_GITHUB_TOKEN", raising=False)
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        github_api_url=gh.api_url,
        github_app_id=str(keys.app_id),
        github_app_private_key_file=pem,
        poll_repos=["acme/widgets"],
        poll_installations=True,
    )
    found = polled_repositories(s)
    assert sorted(found) == sorted([REPO, OTHER, "zeta/tool"])  # listed once, not twice
    listing = [t for t in gh.issued_tokens() if t["permissions"] == {"metadata": "read"}]
    assert listing and all(t["repositories"] is None for t in listing)
