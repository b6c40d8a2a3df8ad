"""A scripted model server for tests: plays the model for Claude Code, Codex and mini-swe-agent.

    with ScriptedModel([shell_turn("claude-code", "echo hi > hello.txt"), Turn(text="done")]) as m:
        run_claude(env={"ANTHROPIC_BASE_URL": m.base_url, ...})
    assert m.model_requests()[0].api == "anthropic"

It speaks the Anthropic Messages API (`/v1/messages`, `/v1/messages/count_tokens`), the OpenAI
Responses API (`/v1/responses`, Codex) and OpenAI Chat Completions (`/v1/chat/completions`,
litellm / mini-swe-agent), streaming or not as the request asks; `/v1` may be left out of a path.
How the script is followed is told in `script.py`; a request with no tools (a title,
a topic, a quota probe) is a side request, answered with `side_text` outside the script, unless
`script_toolless` is set (Aider edits through plain text and never offers tools).
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

from tests.support.model_server import anthropic, chat, responses
from tests.support.model_server.script import (
    SIDE_TEXT,
    Api,
    RecordedRequest,
    Request,
    Script,
    ScriptSource,
    Turn,
    resolve_calls,
)
from tests.support.model_server.wire import Reply, json_reply

__all__ = ["ScriptedModel"]

_API_BY_PATH: dict[str, Api] = {
    "/messages": "anthropic",
    "/messages/count_tokens": "anthropic",
    "/responses": "responses",
    "/chat/completions": "chat",
}


class ScriptedModel:
    """The server. Bound on construction (so `base_url` is known), serving inside `with` or
    between `start()` and `stop()`. `base_url` has no `/v1`: Anthropic clients take it as is,
    OpenAI clients need `base_url + "/v1"` (also `openai_base_url`)."""

    def __init__(
        self,
        script: ScriptSource = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        side_text: str = SIDE_TEXT,
        script_toolless: bool = False,
    ) -> None:
        self.side_text = side_text
        # Aider offers no tools at all: its every request is a turn of the script.
        self.script_toolless = script_toolless
        self._script = Script(script)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures: list[str] = []
        self._thread: threading.Thread | None = None
        self._httpd = _HTTPServer((host, port), self)
        bound_host, bound_port = self._httpd.server_address[:2]
        self.host = str(bound_host)
        self.port = int(bound_port)
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{shown}:{self.port}"
        self.openai_base_url = self.base_url + "/v1"

    def set_script(self, turns: ScriptSource) -> None:
        """Replace the script (and forget which error turns were served)."""
        self._script.set(turns)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def model_requests(self, api: Api | None = None) -> list[RecordedRequest]:
        """The requests answered from the script (no side requests, no count_tokens/HEAD/GET)."""
        return [
            r for r in self.requests if r.turn_index is not None and (api is None or r.api == api)
        ]

    @property
    def failures(self) -> list[str]:
        """Why requests got a 500 from the server itself: a shell call with no shell tool
        (`ScriptError`), or an exception raised by a callable script."""
        with self._lock:
            return list(self._failures)

    def start(self) -> ScriptedModel:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},  # how soon stop() is noticed
                name="scripted-model",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def answer(self, request: Request, *, malformed: bool = False) -> Reply:
        """The reply to a parsed request; records it. Called by the HTTP handler."""
        side, index = False, None
        route = _route(request.path)
        try:
            if malformed:
                reply = _error(400, "invalid_request_error", "the body is not a JSON object")
            elif request.method == "HEAD":
                reply = Reply(200, b"", "text/plain")
            elif request.method == "GET" and route == "/models":
                reply = responses.models_reply(request.model)
            elif request.method != "POST" or route not in _API_BY_PATH:
                reply = _error(404, "not_found_error", f"no route {request.method} {request.path}")
            elif route == "/messages/count_tokens":
                reply = anthropic.count_tokens_reply(request)
            elif request.is_side_request and not self.script_toolless:
                side = True
                reply = self._render(request, Turn(text=self.side_text, output_tokens=5))
            else:
                index, turn = self._script.turn_for(request)
                reply = self._render(request, turn)
        except Exception as error:  # a script's own bug: answer 500 and keep the reason
            reason = f"{request.method} {request.path}: {type(error).__name__}: {error}"
            with self._lock:
                self._failures.append(reason)
            reply = _error(500, "scripted_model_error", reason)
        recorded = RecordedRequest(
            **vars(request), status=reply.status, side=side, turn_index=index
        )
        with self._lock:
            self._requests.append(recorded)
        return reply

    def _render(self, request: Request, turn: Turn) -> Reply:
        if request.api == "anthropic":
            if turn.error is not None:
                return anthropic.error_reply(turn.error)
            return anthropic.message_reply(request, turn, resolve_calls(request, turn, "toolu"))
        if turn.error is not None:
            return responses.error_reply(turn.error)
        calls = resolve_calls(request, turn, "call")
        if request.api == "responses":
            return responses.response_reply(request, turn, calls)
        return chat.completion_reply(request, turn, calls)


def _error(status: int, kind: str, message: str) -> Reply:
    return json_reply({"type": "error", "error": {"type": kind, "message": message}}, status)


def _route(path: str) -> str:
    path = path.rstrip("/") or "/"
    return path.removeprefix("/v1") if path.startswith("/v1/") else path


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], model: ScriptedModel) -> None:
        self.model = model
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ScriptedModel/1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK cost 40 ms each
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_HEAD(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        route = _route(parts.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            api=_API_BY_PATH.get(route, "other"),
            body=body if isinstance(body, dict) else {},
            headers=headers,
        )
        model = cast(_HTTPServer, self.server).model
        reply = model.answer(request, malformed=not isinstance(body, dict))
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        self.wfile.flush()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            raw = bytes(data)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            return gzip.decompress(raw)
        if encoding == "deflate":
            return zlib.decompress(raw)
        return raw
