"""Creating Burndown's GitHub App from the dashboard, through GitHub's App-manifest flow.

`/setup/github-app` posts a manifest (name, webhook, the four permissions, the events) to
GitHub; the person confirms there; GitHub sends them back to `/setup/github-app/done` with a
one-hour code, which Burndown converts (`POST /app-manifests/{code}/conversions`) into the
App's id, private key and webhook secret, stored in the data folder (mode 0600) and used when
no credentials are configured.
"""

import html
import json
import secrets
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from worker.errors import GitHubError
from worker.github.app_auth import RUN_PERMISSIONS
from worker.github.stored_app import StoredApp, store_app
from worker.settings import Settings

EVENTS = ["issues", "issue_comment", "pull_request", "pull_request_review", "check_run"]


def manifest(public_url: str, name: str) -> dict[str, Any]:
    """The App manifest GitHub is asked to create."""
    base = public_url.rstrip("/")
    return {
        "name": name,
        "url": base,
        "hook_attributes": {"url": f"{base}/webhooks/github", "active": True},
        "redirect_url": f"{base}/setup/github-app/done",
        "public": False,
        "default_permissions": dict(RUN_PERMISSIONS),
        "default_events": EVENTS,
    }


def web_url(api_url: str) -> str:
    """GitHub's web address for an API address (api.github.com, or Enterprise's /api/v3)."""
    if api_url.rstrip("/") == "https://api.github.com":
        return "https://github.com"
    return api_url.rstrip("/").removesuffix("/api/v3")


def convert(api_url: str, code: str, timeout: float) -> StoredApp:
    """Exchange the code GitHub gave for the App's credentials (the code works once)."""
    url = f"{api_url.rstrip('/')}/app-manifests/{code}/conversions"
    try:
        r = httpx.post(url, headers={"Accept": "application/vnd.github+json"}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise GitHubError(f"App manifest conversion: {type(exc).__name__}: {exc}") from exc
    if r.status_code != 201:
        raise GitHubError(f"App manifest conversion: GitHub answered {r.status_code}")
    return StoredApp.model_validate(r.json())


def add_app_setup(app: FastAPI, settings: Settings) -> None:
    """Register the two pages of the manifest flow."""
    states: set[str] = set()

    @app.get("/setup/github-app", response_class=HTMLResponse)
    def start() -> str:
        state = secrets.token_urlsafe(16)
        states.add(state)
        target = f"{web_url(settings.github_api_url)}/settings/apps/new?state={state}"
        body = html.escape(json.dumps(manifest(settings.public_url, "burndown")), quote=True)
        return _page(
            "Connect Burndown to GitHub",
            f'<form action="{html.escape(target)}" method="post">'
            f'<input type="hidden" name="manifest" value="{body}">'
            "<p>GitHub will show the App (its permissions: contents, issues and pull requests "
            "read and write, metadata read) before creating it.</p>"
            '<button type="submit">Create the GitHub App</button></form>',
        )

    @app.get("/setup/github-app/done", response_class=HTMLResponse)
    def done(code: str = "", state: str = "") -> HTMLResponse:
        if state not in states or not code:
            return HTMLResponse(
                _page("Not created", "<p>Start again from the setup page.</p>"), 400
            )
        states.discard(state)
        try:
            created = convert(settings.github_api_url, code, settings.http_timeout_seconds)
        except GitHubError as exc:
            return HTMLResponse(_page("Not created", f"<p>{html.escape(str(exc))}</p>"), 502)
        store_app(settings.data_dir, created)
        return HTMLResponse(
            _page(
                f"GitHub App {html.escape(created.slug)} created",
                "<p>Its credentials are stored. Install it on your repositories from its "
                "GitHub page, then restart Burndown.</p>",
            )
        )


def _page(title: str, content: str) -> str:
    return f"<!doctype html><title>{title}</title><h1>{title}</h1>{content}"
