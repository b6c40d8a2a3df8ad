"""GitHub Apps in the stand-in: JWT authentication, installations, expiring scoped tokens.

Faithful to GitHub: the App's JWT (RS256, `iss` = app id or client id, `exp` at most ten
minutes ahead) is verified with the App's public key; an installation token expires, reaches
only the repositories it was issued for (others answer 404, as if they did not exist) and only
with its permissions (else 403 "Resource not accessible by integration").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.github_standin.rest import (
    DOCS,
    ApiError,
    Call,
    Reply,
    Router,
    forbidden,
    not_found,
)
from tests.support.github_standin.state import Repo, iso, now

LEVELS = ("none", "read", "write", "admin")
JWT_MAX_SECONDS = 600
_UNDECODABLE = "A JSON web token could not be decoded"
_DOC_TOKENS = (
    "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
)


@dataclass
class AppReg:
    id: int
    slug: str
    client_id: str
    owner: str
    public_key: Any
    permissions: dict[str, str]

    @property
    def bot(self) -> str:
        return f"{self.slug}[bot]"


@dataclass
class Installation:
    id: int
    app: AppReg
    account: str
    repos: set[str] | None
    """Lower-case full names; None: every repository of the account."""

    def covers(self, repo: Repo) -> bool:
        if repo.owner.lower() != self.account.lower():
            return False
        return self.repos is None or repo.full_name.lower() in self.repos


@dataclass
class IssuedToken:
    token: str
    installation: Installation
    repos: frozenset[str] | None
    permissions: dict[str, str]
    expires_at: datetime


@dataclass
class Apps:
    """Every App, installation and issued installation token of one stand-in."""

    apps: dict[int, AppReg] = field(default_factory=dict)
    installations: dict[int, Installation] = field(default_factory=dict)
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    token_seconds: float = 3600.0
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    """One-time codes of confirmed manifests: what the conversion answers (once)."""

    def convert(self, code: str) -> Reply:
        """`POST /app-manifests/{code}/conversions` (no authentication): the App's credentials,
        once; 404 for an unknown or used code."""
        created = self.manifests.pop(code, None)
        if created is None:
            raise not_found()
        return Reply(201, created)

    def new_key(self) -> tuple[str, Any]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return pem.decode(), key.public_key()

    def app_for_jwt(self, token: str) -> AppReg:
        """The App whose valid JWT this is; ApiError 401 as GitHub answers otherwise."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _unauthorized(_UNDECODABLE) from None
        iss = str(claims.get("iss", ""))
        app = next((a for a in self.apps.values() if iss in (str(a.id), a.client_id)), None)
        if app is None:
            raise _unauthorized("Integration not found")
        try:
            jwt.decode(
                token,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized(
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires"
            ) from None
        except jwt.PyJWTError:
            raise _unauthorized(_UNDECODABLE) from None
        if int(claims["exp"]) > now().timestamp() + JWT_MAX_SECONDS + 30:
            raise _unauthorized("'Expiration time' claim ('exp') is too far in the future")
        return app

    def installation_token(self, token: str) -> IssuedToken | None:
        """The issued token, None if it is not one; 401 once it has expired."""
        issued = self.tokens.get(token)
        if issued is not None and issued.expires_at <= now():
            raise _unauthorized("Bad credentials")
        return issued

    def issue(self, inst: Installation, repos: list[Repo], permissions: dict[str, str]) -> Any:
        """A new token for `inst`, narrowed as asked; the JSON GitHub answers."""
        granted = inst.app.permissions
        for name, level in permissions.items():
            if LEVELS.index(level) > LEVELS.index(granted.get(name, "none")):
                raise ApiError(
                    422,
                    _msg(
                        "The permissions requested are not granted to this installation.",
                        _DOC_TOKENS,
                    ),
                )
        moment = now() + timedelta(seconds=self.token_seconds)
        # The long format GitHub rolls out since 2026: never assume a token's length.
        value = "ghs_" + secrets.token_urlsafe(390)
        names = frozenset(r.full_name.lower() for r in repos) if repos else None
        self.tokens[value] = IssuedToken(value, inst, names, dict(permissions or granted), moment)
        return {
            "token": value,
            "expires_at": iso(moment),
            "permissions": dict(permissions or granted),
            "repository_selection": "selected" if repos or inst.repos else "all",
        }


def permission_for(sub: str) -> str:
    """The App permission a repository endpoint needs (`sub` is the path under the repo)."""
    head = sub.split("/")[1] if sub.startswith("/") else ""
    if head in ("issues", "labels"):
        return "issues"
    if head == "pulls":
        return "pull_requests"
    if head in ("git", "contents", "commits", "branches", "compare"):
        return "contents"
    if head == "statuses":
        return "statuses"
    return "metadata"


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated parts, the first a JSON header: what GitHub treats as a JWT."""
    return token.count(".") == 2 and token.startswith("eyJ")


def in_scope(issued: IssuedToken, repo: Repo) -> bool:
    """Whether the token reaches `repo`: its installation covers it, and its narrowing does."""
    names = issued.repos
    return issued.installation.covers(repo) and (names is None or repo.full_name.lower() in names)


def can_push(issued: IssuedToken) -> bool:
    return issued.permissions.get("contents") in ("write", "admin")


def installation_call(issued: IssuedToken, call: Call, router: Router) -> Reply:
    """A request with an installation token: 404 outside its repositories, 403 without the
    permission the endpoint needs, else the endpoint itself."""
    if call.repo_or_none is None:
        if call.method == "GET" and call.path == "/installation/repositories":
            return _installation_repositories(issued, call)
        return router.dispatch(call)
    if not in_scope(issued, call.repo):
        raise not_found()
    permission = permission_for(call.sub)
    needed = "read" if call.method in ("GET", "HEAD") else "write"
    have = "read" if permission == "metadata" else issued.permissions.get(permission, "none")
    if LEVELS.index(have) < LEVELS.index(needed):
        raise forbidden()
    return router.dispatch(call)


def _installation_repositories(issued: IssuedToken, call: Call) -> Reply:
    repos = sorted(
        (r for r in call.state.repos.values() if in_scope(issued, r)), key=lambda r: r.id
    )
    body = {
        "total_count": len(repos),
        "repository_selection": "all" if issued.installation.repos is None else "selected",
        "repositories": [call.render.repo(r, "standard") for r in repos],
    }
    return Reply(200, body)


def handle_app_call(apps: Apps, app: AppReg, call: Call) -> Reply:
    """The endpoints a JWT may call: the App, its installations, their tokens."""
    path, method = call.path, call.method
    if method == "GET" and path == "/app":
        return Reply(200, _app_json(call, app))
    if method == "GET" and path == "/app/installations":
        mine = [i for i in apps.installations.values() if i.app is app]
        return Reply(200, [_installation_json(call, i) for i in mine])
    if method == "GET" and call.repo_or_none is not None and call.sub == "/installation":
        return Reply(200, _installation_json(call, _installation_of(apps, app, call.repo)))
    parts = path.strip("/").split("/")
    if method == "POST" and len(parts) == 4 and parts[:2] == ["app", "installations"]:
        inst = apps.installations.get(int(parts[2])) if parts[2].isdigit() else None
        if inst is None or inst.app is not app or parts[3] != "access_tokens":
            raise not_found()
        return Reply(201, _token_request(apps, inst, call))
    raise forbidden("A JSON web token can only call the App's own endpoints", DOCS)


def _token_request(apps: Apps, inst: Installation, call: Call) -> Any:
    fields = call.fields()
    repos: list[Repo] = []
    for name in fields.get("repositories") or []:
        repo = call.state.repo(f"{inst.account}/{name}")
        if repo is None or not inst.covers(repo):
            raise ApiError(
                422,
                _msg(
                    "There is at least one repository that does not exist or "
                    "is not accessible to the parent installation.",
                    _DOC_TOKENS,
                ),
            )
        repos.append(repo)
    answer = apps.issue(inst, repos, dict(fields.get("permissions") or {}))
    bot = call.state.ensure_user(inst.app.bot)
    bot.type = "Bot"
    call.state.tokens[answer["token"]] = bot.login
    for repo in repos or [r for r in call.state.repos.values() if inst.covers(r)]:
        repo.permissions.setdefault(bot.login.lower(), "write")
    if repos:
        answer["repositories"] = [call.render.repo(r, "standard") for r in repos]
    return answer


def _installation_of(apps: Apps, app: AppReg, repo: Repo) -> Installation:
    for inst in apps.installations.values():
        if inst.app is app and inst.covers(repo):
            return inst
    raise not_found()


def _app_json(call: Call, app: AppReg) -> dict[str, Any]:
    return {
        "id": app.id,
        "slug": app.slug,
        "client_id": app.client_id,
        "name": app.slug,
        "owner": call.render.user(app.owner),
        "permissions": app.permissions,
        "events": ["issues", "issue_comment", "pull_request"],
    }


def _installation_json(call: Call, inst: Installation) -> dict[str, Any]:
    return {
        "id": inst.id,
        "app_id": inst.app.id,
        "app_slug": inst.app.slug,
        "account": call.render.user(inst.account),
        "repository_selection": "all" if inst.repos is None else "selected",
        "access_tokens_url": f"{call.render.api}/app/installations/{inst.id}/access_tokens",
        "permissions": inst.app.permissions,
        "target_type": "User",
    }


def _msg(message: str, doc: str = DOCS) -> dict[str, Any]:
    return {"message": message, "documentation_url": doc}


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, _msg(message))


@dataclass(frozen=True)
class AppKeys:
    """What registering an App gives its owner: the ids and the private key (PEM)."""

    app_id: int
    client_id: str
    private_key: str
