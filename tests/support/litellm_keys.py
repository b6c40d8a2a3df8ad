"""A stand-in for a LiteLLM proxy's key management, faithful to its documented endpoints.

The real proxy keeps virtual keys in its database (Prisma), which cannot run on this machine
(see /work/shared/notes/litellm-proxy-facts.md); this stand-in answers the same requests with
the same shapes, and enforces what a key is for:

- `POST /key/generate` {key_alias, max_budget, duration "Ns", metadata} (master key) ->
  {key, key_alias, max_budget, expires, token}
- `GET /key/info?key=` (master key) -> {key, info: {spend, max_budget, expires, key_alias}}
- `POST /key/delete` {keys: [...]} (master key) -> {deleted_keys: [...]}; 404 for unknown keys
- `POST /v1/chat/completions` (a virtual key) -> 401 for an unknown, deleted or expired key,
  400 `budget_exceeded` once its spend reached its budget; else a reply costing `call_cost`.
"""

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class VirtualKey:
    key: str
    alias: str | None
    max_budget: float | None
    expires_at: float | None
    spend: float = 0.0


@dataclass
class KeyStore:
    master_key: str
    call_cost: float = 0.01
    keys: dict[str, VirtualKey] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _seconds(duration: str | None) -> float | None:
    if not duration:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(duration[:-1]) * units[duration[-1]]


class _Handler(BaseHTTPRequestHandler):
    store: KeyStore

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _bearer(self) -> str:
        return self.headers.get("Authorization", "").removeprefix("Bearer ").strip()

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _admin(self) -> bool:
        if self._bearer() != self.store.master_key:
            self._send(401, {"error": {"message": "Authentication Error", "type": "auth_error"}})
            return False
        return True

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/key/info" or not self._admin():
            return None if url.path == "/key/info" else self._send(404, {"detail": "Not Found"})
        key = parse_qs(url.query).get("key", [""])[0]
        with self.store.lock:
            vk = self.store.keys.get(key)
        if vk is None:
            return self._send(404, {"detail": f"Key not found: {key[:6]}..."})
        expires = _iso(vk.expires_at)
        info = {"spend": vk.spend, "max_budget": vk.max_budget, "expires": expires}
        self._send(200, {"key": key, "info": {**info, "key_alias": vk.alias}})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path in ("/v1/chat/completions", "/chat/completions"):
            return self._complete()
        if path not in ("/key/generate", "/key/delete"):
            return self._send(404, {"detail": "Not Found"})
        if not self._admin():
            return None
        body = self._body()
        return self._generate(body) if path == "/key/generate" else self._delete(body)

    def _generate(self, body: dict[str, Any]) -> None:
        seconds = _seconds(body.get("duration"))
        vk = VirtualKey(
            key="sk-" + secrets.token_urlsafe(16),
            alias=body.get("key_alias"),
            max_budget=body.get("max_budget"),
            expires_at=time.time() + seconds if seconds is not None else None,
        )
        with self.store.lock:
            self.store.keys[vk.key] = vk
        self._send(
            200,
            {
                "key": vk.key,
                "key_alias": vk.alias,
                "max_budget": vk.max_budget,
                "expires": _iso(vk.expires_at),
                "token": secrets.token_hex(32),
            },
        )

    def _delete(self, body: dict[str, Any]) -> None:
        keys = [str(k) for k in body.get("keys") or []]
        with self.store.lock:
            missing = [k for k in keys if k not in self.store.keys]
            if missing:
                return self._send(404, {"detail": f"{len(missing)} keys not found"})
            for k in keys:
                del self.store.keys[k]
                self.store.deleted.append(k)
        self._send(200, {"deleted_keys": keys})

    def _complete(self) -> None:
        self._body()
        with self.store.lock:
            vk = self.store.keys.get(self._bearer())
            if vk is None or (vk.expires_at is not None and vk.expires_at < time.time()):
                return self._send(401, {"error": {"message": "Invalid key", "type": "auth_error"}})
            if vk.max_budget is not None and vk.spend >= vk.max_budget:
                error = {"message": "Budget has been exceeded", "type": "budget_exceeded"}
                return self._send(400, {"error": error})
            vk.spend += self.store.call_cost
        choice = {"index": 0, "message": {"role": "assistant", "content": "ok"}}
        self._send(200, {"id": "c1", "object": "chat.completion", "choices": [choice]})


def _iso(at: float | None) -> str | None:
    return None if at is None else (datetime.fromtimestamp(at, UTC)).isoformat()


class LiteLLMKeyStandIn:
    """The stand-in server on loopback, serving inside `with`."""

    def __init__(self, master_key: str, call_cost: float = 0.01) -> None:
        self.store = KeyStore(master_key=master_key, call_cost=call_cost)
        handler = type("Handler", (_Handler,), {"store": self.store})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "LiteLLMKeyStandIn":
        self._thread.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


__all__ = ["LiteLLMKeyStandIn"]
