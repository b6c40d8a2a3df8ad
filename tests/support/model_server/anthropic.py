"""Anthropic Messages API answers (`POST /v1/messages`, streaming SSE and JSON)."""

from __future__ import annotations

import json
from typing import Any

from tests.support.model_server import wire
from tests.support.model_server.script import ErrorReply, Request, ResolvedCall, Turn, new_id
from tests.support.model_server.wire import Reply, chunks, json_reply, sse_reply

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_reply(error: ErrorReply) -> Reply:
    kind = _ERROR_TYPES.get(error.status, "api_error")
    default = {"type": "error", "error": {"type": kind, "message": f"scripted {kind}"}}
    return wire.error_reply(error, default)


def usage(turn: Turn) -> dict[str, int]:
    return {
        "input_tokens": turn.input_tokens,
        "output_tokens": turn.output_tokens,
        "cache_read_input_tokens": turn.cached_tokens,
        "cache_creation_input_tokens": turn.cache_creation_tokens,
    }


def _blocks(turn: Turn, calls: list[ResolvedCall]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if turn.text or not calls:
        blocks.append({"type": "text", "text": turn.text})
    for call in calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        )
    return blocks


def message_reply(request: Request, turn: Turn, calls: list[ResolvedCall]) -> Reply:
    message_id = new_id("msg")
    stop_reason = "tool_use" if calls else "end_turn"
    if not request.stream:
        return json_reply(
            {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": request.model,
                "content": _blocks(turn, calls),
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": usage(turn),
            }
        )
    start: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage(turn), "output_tokens": 1},
    }
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(_blocks(turn, calls)):
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in chunks(block["text"])]
        else:
            opening = {**block, "input": {}}
            pieces = chunks(json.dumps(block["input"]))
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            )
        )
        for delta in deltas:
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": usage(turn),
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return sse_reply(events)


def count_tokens_reply(request: Request) -> Reply:
    """A rough count (4 characters a token) of the request body."""
    size = len(str(request.body.get("messages", ""))) + len(str(request.body.get("system", "")))
    return json_reply({"input_tokens": max(1, size // 4)})
