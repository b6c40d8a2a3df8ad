"""Who may read the dashboard, the JSON API, `/metrics` and run transcripts: the operator.

A request proves it with the operator token (`BURNDOWN_OPERATOR_TOKEN`) as a bearer header
(scripts, Prometheus), or with the session cookie `/login` sets after the token was typed
into its form. Webhooks (they carry their own signature), `/healthz`, the login page and the
static assets stay open. With no token configured nothing protected is served: an
unconfigured deployment shows no one its runs.

A pure ASGI middleware, so open paths (webhooks above all) pay one prefix check.
"""

import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from html import escape
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PREFIXES = ("/healthz", "/webhooks/", "/static/")
COOKIE = "burndown_session"
SESSION_SECONDS = 12 * 3600
MAX_FORM_BYTES = 4096


class OperatorAuth:
    """Refuses protected paths to requests without the operator's token or session."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self._token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if path == "/login":
            await self._login(scope, receive, send)
            return
        if path == "/logout":
            await _reply(send, 303, b"", [(b"location", b"/login"), _cookie("", 0)])
            return
        if self._token and self._allowed(scope):
            await self.app(scope, receive, send)
            return
        await self._refuse(scope, send)

    def _allowed(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and self._is_token(value.strip()):
            return True
        cookies = _cookies(headers.get(b"cookie", b"").decode("latin-1"))
        return self._valid_session(cookies.get(COOKIE, ""))

    def _is_token(self, value: str) -> bool:
        assert self._token is not None
        return hmac.compare_digest(value.encode(), self._token.encode())

    def _session(self, issued: int) -> str:
        assert self._token is not None
        mac = hmac.new(self._token.encode(), f"session:{issued}".encode(), hashlib.sha256)
        return f"{issued}.{mac.hexdigest()}"

    def _valid_session(self, value: str) -> bool:
        issued, _, _mac = value.partition(".")
        if not issued.isdigit() or time.time() - int(issued) > SESSION_SECONDS:
            return False
        return hmac.compare_digest(value.encode(), self._session(int(issued)).encode())

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        nxt = _safe_next(query.get("next", ["/"])[0])
        given = query.get("token", [""])[0]
        if scope.get("method") == "POST":
            form = urllib.parse.parse_qs((await _body(receive)).decode("utf-8", "replace"))
            given = form.get("token", [""])[0]
            nxt = _safe_next(form.get("next", [nxt])[0])
        if given and self._token and self._is_token(given):
            session = self._session(int(time.time()))
            headers = [(b"location", nxt.encode()), _cookie(session, SESSION_SECONDS)]
            await _reply(send, 303, b"", headers)
            return
        status = 401 if given else 200
        note = "That token is not the operator's." if given else ""
        if not self._token:
            note = "No operator token is configured: set BURNDOWN_OPERATOR_TOKEN."
        await _reply(send, status, _login_page(nxt, note), [(b"content-type", b"text/html")])

    async def _refuse(self, scope: Scope, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        path = scope.get("path", "/")
        if b"text/html" in headers.get(b"accept", b""):
            target = "/login?" + urllib.parse.urlencode({"next": path})
            await _reply(send, 303, b"", [(b"location", target.encode())])
            return
        why = (
            b'{"message":"authentication required: the operator token as a bearer header"}'
            if self._token
            else b'{"message":"no operator token is configured (BURNDOWN_OPERATOR_TOKEN)"}'
        )
        await _reply(
            send,
            401,
            why,
            [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
        )


def _safe_next(value: str) -> str:
    """Only a local path: a login never sends the browser elsewhere."""
    return value if value.startswith("/") and not value.startswith("//") else "/"


def _cookies(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


def _cookie(value: str, max_age: int) -> tuple[bytes, bytes]:
    return (
        b"set-cookie",
        f"{COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax".encode(),
    )


async def _body(receive: Receive) -> bytes:
    body = b""
    more = True
    while more and len(body) <= MAX_FORM_BYTES:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body[:MAX_FORM_BYTES]


async def _reply(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _login_page(nxt: str, note: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Burndown: sign in</title>"
        "</head><body><h1>Burndown</h1>"
        f"<p>{escape(note)}</p>"
        "<form method='post' action='/login'>"
        f"<input type='hidden' name='next' value='{escape(nxt, quote=True)}'>"
        "<label>Operator token <input type='password' name='token' autofocus></label> "
        "<button type='submit'>Sign in</button></form></body></html>"
    ).encode()
