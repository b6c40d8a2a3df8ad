"""Creating the GitHub App from the dashboard through GitHub's App-manifest flow (the
stand-in plays GitHub's part): the manifest asks for exactly the run's permissions, the code
is converted once, the credentials are stored privately and then used."""

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from scheduler.web.app_manifest import EVENTS, add_app_setup
from tests.support.github_standin import GitHubStandIn
from worker.github.app_auth import RUN_PERMISSIONS, GitHubApp
from worker.github.stored_app import stored_app
from worker.settings import Settings
from worker.wiring import github_tokens

REPO = "acme/widgets"


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as standin:
        yield standin


def _client(gh: GitHubStandIn, data: Path) -> tuple[TestClient, Settings]:
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        github_api_url=gh.api_url,
        data_dir=data,
        public_url="https://burndown.example",
    )
    app = FastAPI()
    add_app_setup(app, s)
    return TestClient(app), s


def _form(page: str) -> tuple[str, dict[str, object]]:
    action = re.search(r'<form action="([^"]+)"', page)
    value = re.search(r'name="manifest" value="([^"]+)"', page)
    assert action and value
    return html.unescape(action.group(1)), json.loads(html.unescape(value.group(1)))


def test_the_manifest_flow_creates_and_stores_the_app(
    gh: GitHubStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BURNDOWN_GITHUB_TOKEN", raising=False)
    client, s = _client(gh, tmp_path / "data")
    action, manifest = _form(client.get("/setup/github-app").text)
    assert action.startswith(f"{gh.web_url}/settings/apps/new?state=")
    assert manifest["default_permissions"] == dict(RUN_PERMISSIONS)
    assert manifest["default_events"] == EVENTS
    assert manifest["hook_attributes"] == {
        "url": "https://burndown.example/webhooks/github",
        "active": True,
    }
    state = action.split("state=", 1)[1]
    code = gh.confirm_manifest(manifest, "acme")  # the person confirms on GitHub

    r = client.get(f"/setup/github-app/done?code={code}&state={state}")
    assert r.status_code == 200 and "burndown" in r.text
    stored = stored_app(s.data_dir)
    assert stored is not None and stored.webhook_secret is not None
    assert ((s.data_dir / "github-app.json").stat().st_mode & 0o777) == 0o600

    gh.add_repo(REPO, {"README.md": "# w\n"})
    gh.install_app(stored.id, "acme")
    tokens = github_tokens(s)  # nothing configured but the stored App
    assert isinstance(tokens, GitHubApp) and tokens.token(REPO).startswith("ghs_")
    again = client.get(f"/setup/github-app/done?code={code}&state={state}")
    assert again.status_code == 400  # the state was used


def test_a_used_or_unknown_code_is_refused(gh: GitHubStandIn, tmp_path: Path) -> None:
    client, s = _client(gh, tmp_path / "data")
    action, _ = _form(client.get("/setup/github-app").text)
    state = action.split("state=", 1)[1]
    r = client.get(f"/setup/github-app/done?code=nonsense&state={state}")
    assert r.status_code == 502 and "404" in r.text and stored_app(s.data_dir) is None
    forged = client.get("/setup/github-app/done?code=x&state=forged")
    assert forged.status_code == 400


def test_a_configured_token_wins_over_a_stored_app(gh: GitHubStandIn, tmp_path: Path) -> None:
    client, s = _client(gh, tmp_path / "data")
    action, manifest = _form(client.get("/setup/github-app").text)
    code = gh.confirm_manifest(manifest, "acme")
    client.get(f"/setup/github-app/done?code={code}&state={action.split('state=', 1)[1]}")
    with_token = s.model_copy(update={"github_token": SecretStr("ghp_x")})
    assert github_tokens(with_token).token(REPO) == "ghp_x"
