"""Request/response plumbing shared by the stand-in's REST endpoints: calls, errors, pagination."""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.support.github_standin.render import Renderer
from tests.support.github_standin.state import Repo, State, at_least

DOCS = "https://docs.github.com/rest"
FORBIDDEN = "Resource not accessible by integration"
"""What GitHub answers an installation token that lacks a permission."""


class ApiError(Exception):
    """An error response; raised anywhere in a handler, turned into JSON by the dispatcher."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(f"{status} {body.get('message')}")
        self.status, self.body, self.headers = status, body, headers or {}


def not_found(doc: str = DOCS) -> ApiError:
    return ApiError(404, {"message": "Not Found", "documentation_url": doc})


def forbidden(message: str = FORBIDDEN, doc: str = DOCS) -> ApiError:
    return ApiError(403, {"message": message, "documentation_url": doc})


def invalid(errors: Sequence[dict[str, Any]], doc: str = DOCS) -> ApiError:
    """422 Validation Failed with GitHub's ``errors`` list."""
    body = {"message": "Validation Failed", "errors": list(errors), "documentation_url": doc}
    return ApiError(422, body)


def unprocessable(message: str, doc: str = DOCS) -> ApiError:
    """422 with a plain message (as the git data endpoints answer)."""
    return ApiError(422, {"message": message, "documentation_url": doc})


@dataclass
class Reply:
    status: int
    body: Any = None
    """A JSON value, or ``bytes`` sent as they are."""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


@dataclass
class Call:
    """One authenticated REST request, with its repository resolved when the path names one."""

    method: str
    path: str
    sub: str
    query_pairs: list[tuple[str, str]]
    headers: dict[str, str]
    raw_body: bytes
    login: str
    repo_or_none: Repo | None
    state: State
    render: Renderer
    link_base: str
    args: dict[str, str] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, str]:
        return dict(self.query_pairs)

    @property
    def repo(self) -> Repo:
        assert self.repo_or_none is not None, "route is not repository-scoped"
        return self.repo_or_none

    def json(self) -> Any:
        if not self.raw_body.strip():
            return {}
        try:
            return json.loads(self.raw_body)
        except ValueError:
            body = {"message": "Problems parsing JSON", "documentation_url": DOCS}
            raise ApiError(400, body) from None

    def fields(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise ApiError(400, {"message": "Problems parsing JSON", "documentation_url": DOCS})
        return data

    def need(self, role: str, message: str = FORBIDDEN) -> None:
        """Raise 403 unless the caller has at least ``role`` on the repository."""
        if not at_least(self.repo.role(self.login), role):
            raise forbidden(message)

    def int_arg(self, name: str) -> int:
        return int(self.args[name])

    def location(self, url: str) -> dict[str, str]:
        return {"Location": url}


Handler = Callable[[Call], Reply]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    scoped: bool
    handler: Handler


class Router:
    """Routes ``(method, path)`` to handlers; repository routes match the path under the repo."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, scoped: bool = True) -> None:
        """Register ``handler``; ``pattern`` is a regex matched in full (``""`` is the repo)."""
        self.routes.append(Route(method, re.compile(pattern), scoped, handler))

    def dispatch(self, call: Call) -> Reply:
        scoped = call.repo_or_none is not None
        target = call.sub if scoped else call.path
        for route in self.routes:
            if route.scoped != scoped or route.method != call.method:
                continue
            match = route.pattern.fullmatch(target)
            if match:
                call.args = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
                return route.handler(call)
        raise not_found()


def paginate(call: Call, items: Sequence[Any]) -> Reply:
    """One page of ``items`` with GitHub's ``Link`` header (``per_page`` at most 100)."""
    query = call.query
    per_page = _int(query.get("per_page"), 30, 1, 100)
    page = _int(query.get("page"), 1, 1, 10**6)
    last = max(1, math.ceil(len(items) / per_page))
    kept = [(k, v) for k, v in call.query_pairs if k != "page"]

    def url(number: int) -> str:
        return f"{call.link_base}?{urllib.parse.urlencode([*kept, ('page', str(number))])}"

    links = []
    if page > 1:
        links.append(f'<{url(page - 1)}>; rel="prev"')
    if page < last:
        links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
    if page > 1:
        links.append(f'<{url(1)}>; rel="first"')
    headers = {"Link": ", ".join(links)} if links else {}
    return Reply(200, list(items[(page - 1) * per_page : page * per_page]), headers)


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(text))) if text else default
    except ValueError:
        return default


def parse_repo_path(path: str) -> tuple[str | int, str] | None:
    """Split ``/repos/o/r/sub`` or ``/repositories/ID/sub`` into (full name or id, sub)."""
    match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
    if match:
        owner, name = (urllib.parse.unquote(g) for g in match.group(1, 2))
        return f"{owner}/{name}", match.group(3) or ""
    match = re.fullmatch(r"/repositories/(\d+)(/.*)?", path)
    if match:
        return int(match.group(1)), match.group(2) or ""
    return None
