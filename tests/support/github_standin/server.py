"""HTTP front of the GitHub stand-in: REST under ``/api/v3`` and git smart HTTP beside it."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import re
import secrets
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.github_standin import events, gitdata, issues, pulls
from tests.support.github_standin.apps import (
    Apps,
    can_push,
    handle_app_call,
    in_scope,
    installation_call,
    looks_like_jwt,
)
from tests.support.github_standin.git import run_http_backend
from tests.support.github_standin.render import Renderer
from tests.support.github_standin.rest import DOCS, ApiError, Call, Reply, Router, parse_repo_path
from tests.support.github_standin.state import Repo, State, at_least, now

API_PREFIX = "/api/v3"
MANIFEST_CONVERSION = re.compile(r"/app-manifests/[^/]+/conversions")
_GIT_PATH = re.compile(
    r"/(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?/(?P<rest>info/refs|git-upload-pack|git-receive-pack)"
)

Response = tuple[int, list[tuple[str, str]], bytes]


@dataclass
class FailRule:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    after: bool = False
    """Do the request, then answer with the failure (a write whose answer was lost)."""


def token_from(authorization: str) -> str | None:
    """The token in ``token X``, ``Bearer X`` or ``Basic base64(user:X)`` (any user name)."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() in ("token", "bearer"):
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or user or None
    return None


class App:
    """Transport-independent request handling: logging, injected failures, auth, routing."""

    def __init__(self, state: State, repos_root: Path, home: Path) -> None:
        self.state, self.repos_root, self.home = state, repos_root, home
        self.router = Router()
        for module in (issues, pulls, gitdata, events):
            module.register(self.router)
        self.log: list[tuple[str, str]] = []
        self.times: list[float] = []  # time.monotonic() of each request in `log`
        self.failures: list[FailRule] = []
        self.used: dict[str, int] = {}
        self.apps = Apps()
        self.render = Renderer(state, "", "", home)

    def set_base(self, web_url: str) -> None:
        self.render = Renderer(self.state, web_url + API_PREFIX, web_url, self.home)

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        split = urllib.parse.urlsplit(target)
        path = split.path
        rest_path = path[len(API_PREFIX) :] or "/" if path.startswith(API_PREFIX + "/") else None
        logged = rest_path if rest_path is not None else path
        if headers.get("content-encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        with self.state.lock:
            self.log.append((method, logged))
            self.times.append(time.monotonic())
            rule = next(
                (
                    r
                    for r in self.failures
                    if r.method == method.upper() and r.pattern.fullmatch(logged)
                ),
                None,
            )
            if rule is not None:
                self.failures.remove(rule)
                reply = Reply(rule.status, rule.body, dict(rule.headers))
                if not rule.after:
                    return self._rest_response(reply, None)
        if rest_path is not None and rule is not None and rule.after:
            self._rest(method, rest_path, split.query, headers, body)
            return self._rest_response(reply, None)
        if rest_path is not None:
            return self._rest(method, rest_path, split.query, headers, body)
        match = _GIT_PATH.fullmatch(path)
        if match:
            return self._git(method, match, split.query, headers, body)
        return 404, [("Content-Type", "text/plain; charset=utf-8")], b"Not Found\n"

    def _rest(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        token = token_from(headers.get("authorization", "")) or ""
        with self.state.lock:
            apps = self.apps
            try:
                if method == "POST" and MANIFEST_CONVERSION.fullmatch(path):
                    return self._rest_response(apps.convert(path.split("/")[2]), None)
                if looks_like_jwt(token):
                    app = apps.app_for_jwt(token)
                    call = self._call(method, path, query, headers, body, app.bot, roles=False)
                    return self._rest_response(handle_app_call(apps, app, call), None)
                issued = apps.installation_token(token)
            except ApiError as error:
                return self._error(error, None)
            user = self.state.user_for_token(token)
            if user is None:
                refused = ApiError(401, {"message": "Bad credentials", "documentation_url": DOCS})
                return self._error(refused, None)
            self.used[user.login] = self.used.get(user.login, 0) + 1
            try:
                call = self._call(method, path, query, headers, body, user.login)
                if issued is not None:
                    reply = installation_call(issued, call, self.router)
                else:
                    reply = self.router.dispatch(call)
                if method == "GET" and reply.status == 200 and not_modified(reply, headers):
                    self.used[user.login] -= 1  # GitHub: a 304 costs no rate limit
                    reply = Reply(304, None, {"ETag": reply.headers["ETag"]})
                return self._rest_response(reply, user.login)
            except ApiError as error:
                return self._error(error, user.login)

    def _call(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        login: str,
        roles: bool = True,
    ) -> Call:
        repo: Repo | None = None
        sub, link_base = path, self.render.api + path
        parsed = parse_repo_path(path)
        if parsed is not None:
            key, sub = parsed
            repo = self.state.repo_by_id(key) if isinstance(key, int) else self.state.repo(key)
            if repo is None or (roles and repo.role(login) == "none"):
                raise ApiError(404, {"message": "Not Found", "documentation_url": DOCS})
            link_base = f"{self.render.api}/repositories/{repo.id}{sub}"
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        return Call(
            method, path, sub, pairs, headers, body, login, repo, self.state, self.render, link_base
        )

    def _error(self, error: ApiError, login: str | None) -> Response:
        return self._rest_response(Reply(error.status, error.body, error.headers), login)

    def _rest_response(self, reply: Reply, login: str | None) -> Response:
        used = self.used.get(login, 0) if login else 0
        headers = [
            ("Content-Type", reply.content_type),
            ("X-GitHub-Media-Type", "github.v3; format=json"),
            ("X-RateLimit-Limit", "5000"),
            ("X-RateLimit-Remaining", str(max(0, 5000 - used))),
            ("X-RateLimit-Reset", str(int(time.time()) + 3600)),
            ("X-RateLimit-Used", str(used)),
            ("X-RateLimit-Resource", "core"),
            ("X-GitHub-Request-Id", _request_id()),
        ]
        names = {name.lower() for name in reply.headers}
        headers = [h for h in headers if h[0].lower() not in names] + list(reply.headers.items())
        if reply.status == 204 or reply.body is None:
            return reply.status, [h for h in headers if h[0] != "Content-Type"], b""
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        return reply.status, headers, data

    def _git(
        self, method: str, match: re.Match[str], query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        text = [("Content-Type", "text/plain; charset=utf-8")]
        service = urllib.parse.parse_qs(query).get("service", [""])[0]
        writes = "git-receive-pack" in (match["rest"], service)
        token = token_from(headers.get("authorization", "")) or ""
        with self.state.lock:
            try:
                issued = self.apps.installation_token(token)
            except ApiError:
                issued = None
                token = ""  # expired: refused like an unknown token
            user = self.state.user_for_token(token)
            if user is None:
                challenge = [("WWW-Authenticate", 'Basic realm="GitHub"'), *text]
                return 401, challenge, b"Invalid username or token.\n"
            repo = self.state.repo(f"{match['owner']}/{match['name']}")
            if repo is None or repo.role(user.login) == "none":
                return 404, text, b"Repository not found.\n"
            if issued is not None and not in_scope(issued, repo):
                return 404, text, b"Repository not found.\n"
            if issued is not None and writes and not can_push(issued):
                denied = f"Permission to {repo.full_name}.git denied to {user.login}.\n"
                return 403, text, denied.encode()
            if writes and not at_least(repo.role(user.login), "write"):
                denied = f"Permission to {repo.full_name}.git denied to {user.login}.\n"
                return 403, text, denied.encode()
            path_info = f"/{repo.owner}/{repo.name}.git/{match['rest']}"
        cgi = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "CONTENT_TYPE": headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user.login,
            "REMOTE_ADDR": "127.0.0.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if "git-protocol" in headers:
            cgi["HTTP_GIT_PROTOCOL"] = headers["git-protocol"]
        result = run_http_backend(self.repos_root, self.home, cgi, body)
        if writes and method == "POST" and result.status == 200:
            with self.state.lock:
                repo.pushed_at = now()
        return result.status, result.headers, result.body


def not_modified(reply: Reply, headers: dict[str, str]) -> bool:
    """Tag the answer with an ETag (as GitHub does); True when the client's `If-None-Match`
    names it: the answer is then 304 with no body."""
    data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
    digest = hashlib.sha256(data + reply.headers.get("Link", "").encode()).hexdigest()[:40]
    reply.headers["ETag"] = f'W/"{digest}"'
    asked = {t.strip() for t in headers.get("if-none-match", "").split(",")}
    return reply.headers["ETag"] in asked or reply.headers["ETag"][2:] in asked


def _request_id() -> str:
    parts = (secrets.token_hex(2), secrets.token_hex(3), secrets.token_hex(4))
    return ":".join((*parts, secrets.token_hex(4), secrets.token_hex(4))).upper()


class StandInServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one :class:`App`."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, app: App, host: str = "127.0.0.1") -> None:
        self.app = app
        super().__init__((host, 0), StandInHandler)


class StandInHandler(BaseHTTPRequestHandler):
    """Reads a request (plain or chunked body), lets the :class:`App` answer, closes."""

    protocol_version = "HTTP/1.1"
    server: StandInServer

    def _serve(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            status, reply_headers, data = self.server.app.handle(
                self.command, self.path, headers, body
            )
        except Exception as error:  # a stand-in bug: answer 500 and show it in the test output
            traceback.print_exc()
            status, data = 500, json.dumps({"message": f"stand-in error: {error!r}"}).encode()
            reply_headers = [("Content-Type", "application/json; charset=utf-8")]
        self.send_response(status)
        for name, value in reply_headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; :attr:`App.log` records every request."""
