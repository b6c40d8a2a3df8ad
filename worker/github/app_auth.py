"""GitHub credentials: a personal token, or a GitHub App's installation tokens.

An App signs a short JWT (RS256) with its private key, finds the installation of each
repository, and asks for installation tokens narrowed to that one repository and the
permissions a run needs. Tokens are cached and replaced well before they expire.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
import jwt
from pydantic import SecretStr

from worker.errors import ConfigError, GitHubError

RUN_PERMISSIONS: Mapping[str, str] = {
    "contents": "write",  # push the agent's branch
    "pull_requests": "write",  # open and update its pull request
    "issues": "write",  # comments, labels, reactions
    "metadata": "read",  # the repository and its collaborators' roles
}
"""What one run needs on its repository, and nothing more."""

JWT_BACKDATE_SECONDS = 60  # GitHub's advice: allow for clock drift
JWT_LIFETIME_SECONDS = 540  # GitHub refuses more than 10 minutes
REFRESH_MARGIN_SECONDS = 300.0
"""An installation token is replaced this long before it expires (git may still need it)."""


class TokenSource(Protocol):
    """Where GitHub credentials for one repository come from."""

    def token(self, full_name: str) -> str:
        """A token valid for `full_name` for at least a few more minutes."""
        ...


@dataclass(frozen=True)
class StaticToken:
    """A personal access token: the same for every repository."""

    value: SecretStr

    def token(self, full_name: str) -> str:
        return self.value.get_secret_value()


@dataclass(frozen=True)
class InstallationToken:
    """An installation token as GitHub issued it."""

    token: str
    expires_at: float
    """Seconds since the epoch."""
    installation_id: int


def app_jwt(app_id: str, private_key: str, now: float) -> str:
    """The JWT that authenticates as the App itself (`Authorization: Bearer ...`)."""
    claims = {
        "iat": int(now) - JWT_BACKDATE_SECONDS,
        "exp": int(now) + JWT_LIFETIME_SECONDS,
        "iss": app_id,
    }
    try:
        return jwt.encode(claims, private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ConfigError(f"the GitHub App's private key cannot sign: {exc}") from exc


class GitHubApp:
    """A GitHub App's installation tokens, one per repository, narrowed and cached."""

    def __init__(
        self,
        api_url: str,
        app_id: str,
        private_key: SecretStr,
        *,
        timeout: float = 30.0,
        permissions: Mapping[str, str] = RUN_PERMISSIONS,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
        http: httpx.Client | None = None,
    ) -> None:
        self._api = api_url.rstrip("/")
        self._app_id, self._key = app_id, private_key
        self._permissions = dict(permissions)
        self._margin, self._clock = refresh_margin, clock
        self._http = http or httpx.Client(timeout=timeout)
        self._lock = threading.Lock()
        self._installations: dict[str, int] = {}
        self._tokens: dict[str, InstallationToken] = {}

    def close(self) -> None:
        self._http.close()

    def token(self, full_name: str) -> str:
        """An installation token for `full_name` only, with the run's permissions."""
        key = full_name.lower()
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.expires_at - self._margin > self._clock():
                return cached.token
            fresh = self._issue(full_name)
            self._tokens[key] = fresh
            return fresh.token

    def installation_id(self, full_name: str) -> int:
        """The id of the App's installation that covers `full_name`."""
        key = full_name.lower()
        if key not in self._installations:
            data = self._request("GET", f"/repos/{full_name}/installation", f"find {full_name}")
            self._installations[key] = int(data["id"])
        return self._installations[key]

    def repositories(self) -> list[str]:
        """Full names of every repository of every installation of the App (for polling)."""
        names: list[str] = []
        for inst in self._request("GET", "/app/installations?per_page=100", "installations"):
            path = f"/app/installations/{inst['id']}/access_tokens"
            body = {"permissions": {"metadata": "read"}}
            token = self._request("POST", path, "a token to list repositories", body)["token"]
            headers = {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
            url: str | None = f"{self._api}/installation/repositories?per_page=100"
            while url:
                r = self._http.get(url, headers=headers)
                if r.status_code != 200:
                    raise GitHubError(f"GitHub App: list repositories: {r.status_code}: {_msg(r)}")
                names += [str(repo["full_name"]) for repo in r.json()["repositories"]]
                url = r.links.get("next", {}).get("url")
        return names

    def _issue(self, full_name: str) -> InstallationToken:
        installation = self.installation_id(full_name)
        name = full_name.split("/", 1)[1]
        body = {"repositories": [name], "permissions": self._permissions}
        path = f"/app/installations/{installation}/access_tokens"
        try:
            data = self._request("POST", path, f"token for {full_name}", body)
        except GitHubError as exc:
            if "404" in str(exc):  # uninstalled meanwhile: look it up again next time
                self._installations.pop(full_name.lower(), None)
            raise
        expires = datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00"))
        return InstallationToken(str(data["token"]), expires.timestamp(), installation)

    def _request(self, method: str, path: str, what: str, body: Any = None) -> Any:
        bearer = app_jwt(self._app_id, self._key.get_secret_value(), self._clock())
        headers = {
            "Authorization": f"Bearer {bearer}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        try:
            r = self._http.request(method, self._api + path, headers=headers, json=body)
        except httpx.HTTPError as exc:
            raise GitHubError(f"GitHub App: {what}: {type(exc).__name__}: {exc}") from exc
        if r.status_code >= 300:
            raise GitHubError(f"GitHub App: {what}: GitHub answered {r.status_code}: {_msg(r)}")
        return r.json()


def _msg(r: httpx.Response) -> str:
    try:
        data = r.json()
    except ValueError:
        return r.text[:200]
    return str(data.get("message") if isinstance(data, dict) else data)[:200]
