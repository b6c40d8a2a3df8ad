"""Wire helpers shared by the scripted model server's API modules."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.support.model_server.script import ErrorReply


@dataclass(frozen=True)
class Reply:
    """A complete HTTP answer: sent with a Content-Length, streams included."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(), "application/json", dict(headers or {}))


def sse_reply(events: list[tuple[str | None, Any]]) -> Reply:
    """Server-sent events; `None` as event name writes a bare `data:` line (Chat Completions),
    a `str` payload is written verbatim (e.g. `[DONE]`)."""
    lines = []
    for event, data in events:
        if event is not None:
            lines.append(f"event: {event}\n")
        payload = data if isinstance(data, str) else json.dumps(data)
        lines.append(f"data: {payload}\n\n")
    headers = {"Cache-Control": "no-cache"}
    return Reply(200, "".join(lines).encode(), "text/event-stream; charset=utf-8", headers)


def chunks(text: str, size: int = 8) -> list[str]:
    """`text` cut into pieces, so that clients must join deltas; at least one piece."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def error_reply(error: ErrorReply, default_body: dict[str, Any]) -> Reply:
    """The scripted error: its own body (JSON or text) or the API's `default_body`."""
    body = default_body if error.body is None else error.body
    if isinstance(body, str):
        return Reply(error.status, body.encode(), "text/plain", dict(error.headers))
    return json_reply(body, error.status, error.headers)
