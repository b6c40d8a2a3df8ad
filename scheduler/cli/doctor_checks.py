"""`burndown doctor`: every connection Burndown needs, checked, with how to fix each.

Each check is a plain function of the settings that answers a `Check`; none raises. A
first start with nothing configured gets a list of what is missing instead of silence.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import redis
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from sandbox.docker_client import docker_client, find_image
from sandbox.errors import BurndownError
from worker.github.app_auth import RUN_PERMISSIONS, GitHubApp, app_jwt
from worker.linear import documents
from worker.settings import Settings
from worker.store.migrate import alembic_config
from worker.wiring import app_private_key, github_tokens, linear_client, store

TIMEOUT = 5.0
TOKEN_FIX = (
    "create a GitHub App (open BURNDOWN_PUBLIC_URL/setup/github-app, or README "
    "'Connect your tracker') and set "
    "BURNDOWN_GITHUB_APP_ID and BURNDOWN_GITHUB_APP_PRIVATE_KEY_FILE; or set "
    "BURNDOWN_GITHUB_TOKEN to a fine-grained token with Contents, Issues and Pull requests: "
    "read and write (Metadata: read)"
)
LINEAR_KEY_FIX = (
    "set BURNDOWN_LINEAR_API_KEY to a personal API key (lin_api_...) or the OAuth app's "
    "token, and BURNDOWN_LINEAR_API_URL if not Linear's own"
)


@dataclass(frozen=True)
class Check:
    """One connection's state: `ok`, what was seen, and how to fix it when not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a new user fixes them."""
    checks: list[Callable[[Settings], Check]] = [
        check_github,
        check_intake_path,
        check_linear,
        check_store,
        check_broker,
        check_docker,
        check_image,
        check_model,
    ]
    return [_safely(c, settings) for c in checks]


def _safely(check: Callable[[Settings], Check], settings: Settings) -> Check:
    try:
        return check(settings)
    except (BurndownError, httpx.HTTPError, OSError) as exc:
        name = check.__name__.removeprefix("check_")
        return Check(name, False, f"{type(exc).__name__}: {exc}", "see the message")


def check_github(s: Settings) -> Check:
    """The GitHub credentials: present, accepted, and with the permissions a run needs."""
    if not s.github_app_id and s.github_token is None:
        return Check("github", False, "no GitHub credentials are configured", TOKEN_FIX)
    if s.github_app_id:
        return _check_app(s)
    tokens = github_tokens(s)
    headers = {"Authorization": f"token {tokens.token('')}"}
    r = httpx.get(f"{s.github_api_url.rstrip('/')}/user", headers=headers, timeout=TIMEOUT)
    if r.status_code == 401:
        return Check("github", False, "GitHub refused the token (401)", TOKEN_FIX)
    r.raise_for_status()
    scopes = r.headers.get("x-oauth-scopes")
    login = r.json().get("login")
    if scopes is not None and not {"repo", "public_repo"} & {x.strip() for x in scopes.split(",")}:
        fix = "give the classic token the `repo` scope, or use a GitHub App"
        return Check("github", False, f"token of {login} lacks the repo scope", fix)
    return Check("github", True, f"token of {login} accepted")


def _check_app(s: Settings) -> Check:
    key = app_private_key(s).get_secret_value()
    bearer = app_jwt(str(s.github_app_id), key, time.time())
    headers = {"Authorization": f"Bearer {bearer}", "Accept": "application/vnd.github+json"}
    r = httpx.get(f"{s.github_api_url.rstrip('/')}/app", headers=headers, timeout=TIMEOUT)
    if r.status_code == 401:
        msg = r.json().get("message", "")
        return Check("github", False, f"GitHub refused the App's JWT: {msg}", _APP_KEY_FIX)
    r.raise_for_status()
    app = r.json()
    granted = app.get("permissions") or {}
    missing = [
        f"{name}: {level}"
        for name, level in RUN_PERMISSIONS.items()
        if _rank(granted.get(name)) < _rank(level)
    ]
    if missing:
        fix = f"in the App's settings, grant {', '.join(missing)} and accept it per installation"
        return Check("github", False, f"App {app.get('slug')} lacks permissions", fix)
    tokens = github_tokens(s)
    repos = tokens.repositories() if isinstance(tokens, GitHubApp) else []
    return Check("github", True, f"App {app.get('slug')}: installed on {len(repos)} repositories")


_APP_KEY_FIX = (
    "check BURNDOWN_GITHUB_APP_ID (the App's id or client id) and that the private key file is "
    "the App's current key (App settings, 'Private keys'); the host clock must be right too"
)


def _rank(level: str | None) -> int:
    return ["none", "read", "write", "admin"].index(level or "none")


def check_intake_path(s: Settings) -> Check:
    """How work reaches Burndown: a webhook GitHub can reach, or polling."""
    polling = bool(s.poll_repos or s.poll_installations)
    if s.github_webhook_secret is None and not polling:
        fix = (
            "set BURNDOWN_GITHUB_WEBHOOK_SECRET and point a webhook at "
            f"{s.public_url.rstrip('/')}/webhooks/github, or poll: BURNDOWN_POLL_REPOS=owner/name"
        )
        return Check("intake", False, "neither a webhook secret nor polling is configured", fix)
    if s.github_webhook_secret is None:
        return Check("intake", True, f"polling every {s.poll_interval_seconds:g} s")
    host = urlsplit(s.public_url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1") and not polling:
        fix = "set BURNDOWN_PUBLIC_URL to an address GitHub reaches, or BURNDOWN_POLL_REPOS"
        return Check("intake", False, f"webhooks go to {s.public_url}: GitHub cannot reach it", fix)
    try:
        r = httpx.get(f"{s.public_url.rstrip('/')}/healthz", timeout=TIMEOUT)
        reached = r.status_code == 200
    except httpx.HTTPError:
        reached = False
    if not reached:
        fix = f"start `burndown api` and make {s.public_url} reach it (a proxy or tunnel)"
        return Check("intake", False, f"{s.public_url}/healthz does not answer", fix)
    return Check("intake", True, f"webhooks at {s.public_url}/webhooks/github answer")


def check_linear(s: Settings) -> Check:
    """Linear, once any Linear setting is given: the key answers, teams are mapped to
    repositories, and a way in (webhook or polling) is configured."""
    if not (s.linear_api_key or s.linear_webhook_secret or s.linear_repos or s.linear_poll):
        return Check("linear", True, "not configured (optional)")
    client = linear_client(s)
    if client is None:
        return Check("linear", False, "Linear settings are given, no API key", LINEAR_KEY_FIX)
    try:
        viewer = client.call(documents.VIEWER, {}).get("viewer") or {}
    except BurndownError as exc:
        return Check("linear", False, f"{s.linear_api_url}: {exc}", LINEAR_KEY_FIX)
    if not s.linear_repos:
        fix = 'set BURNDOWN_LINEAR_REPOS=\'{"ENG": "owner/repo"}\' (team key to repository)'
        return Check("linear", False, "no Linear team is mapped to a repository", fix)
    if not (s.linear_webhook_secret or s.linear_poll):
        fix = (
            "set BURNDOWN_LINEAR_WEBHOOK_SECRET to the signing secret of a webhook on "
            "BURNDOWN_PUBLIC_URL/webhooks/linear, or BURNDOWN_LINEAR_POLL=true"
        )
        return Check("linear", False, "no way in: neither a webhook secret nor polling", fix)
    teams = ", ".join(sorted(s.linear_repos))
    return Check("linear", True, f"as {viewer.get('name', '?')}; mapped: {teams}")


def check_store(s: Settings) -> Check:
    """The store answers and its schema is current."""
    url = s.resolved_database_url()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    try:
        with store(s).connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        fix = "check BURNDOWN_DATABASE_URL and that the database server runs"
        return Check("store", False, f"cannot connect: {exc.__class__.__name__}", fix)
    if current != head:
        return Check("store", False, f"schema at {current}, code at {head}", "burndown db upgrade")
    return Check("store", True, f"schema current ({head})")


def check_broker(s: Settings) -> Check:
    """The queue's broker answers."""
    if not s.broker_url:
        return Check("broker", True, "the embedded SQLite broker (one host only)")
    if not s.broker_url.startswith(("redis://", "rediss://")):
        return Check("broker", True, "not a Redis URL: not checked")
    client = redis.Redis.from_url(
        s.broker_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        fix = "start Redis, or correct BURNDOWN_BROKER_URL"
        return Check("broker", False, f"Redis does not answer: {exc}", fix)
    finally:
        client.close()
    return Check("broker", True, "Redis answers")


def check_docker(s: Settings) -> Check:
    """The Docker engine answers."""
    client = docker_client(TIMEOUT)
    try:
        version = client.version().get("Version", "?")
    finally:
        client.close()
    return Check("docker", True, f"Docker {version}")


def check_image(s: Settings) -> Check:
    """The sandbox image exists (it is built offline; nothing is pulled)."""
    client = docker_client(TIMEOUT)
    try:
        found = find_image(client, s.sandbox_image)
    finally:
        client.close()
    if found is None:
        fix = "build it: `burndown sandbox build` (./scripts/up does it too)"
        return Check("image", False, f"{s.sandbox_image} is not on this host", fix)
    return Check("image", True, f"{s.sandbox_image} present")


def check_model(s: Settings) -> Check:
    """A model endpoint and key are configured, and the endpoint answers."""
    key = s.litellm_api_key or s.anthropic_api_key or s.openai_api_key
    base = s.litellm_api_base or s.anthropic_base_url or s.openai_base_url
    if key is None:
        fix = "set BURNDOWN_ANTHROPIC_API_KEY (or a LiteLLM gateway: BURNDOWN_LITELLM_API_BASE/KEY)"
        return Check("model", False, "no model key is configured", fix)
    if base is None:
        return Check("model", True, "the harness's own endpoint (not probed)")
    try:
        r = httpx.get(base, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        fix = f"check that {base} runs and this host reaches it"
        return Check("model", False, f"{base} does not answer: {type(exc).__name__}", fix)
    return Check("model", True, f"{base} answers (HTTP {r.status_code})")
