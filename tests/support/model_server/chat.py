"""OpenAI Chat Completions answers (`POST /v1/chat/completions`), as litellm reads them."""

from __future__ import annotations

import time
from typing import Any

from tests.support.model_server.script import Request, ResolvedCall, Turn, new_id
from tests.support.model_server.wire import Reply, chunks, json_reply, sse_reply


def usage(turn: Turn) -> dict[str, Any]:
    return {
        "prompt_tokens": turn.input_tokens,
        "completion_tokens": turn.output_tokens,
        "total_tokens": turn.input_tokens + turn.output_tokens,
        "prompt_tokens_details": {"cached_tokens": turn.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": turn.reasoning_tokens},
    }


def _tool_call(call: ResolvedCall) -> dict[str, Any]:
    function = {"name": call.name, "arguments": call.arguments_json}
    return {"id": call.id, "type": "function", "function": function}


def completion_reply(request: Request, turn: Turn, calls: list[ResolvedCall]) -> Reply:
    head = {"id": new_id("chatcmpl"), "created": int(time.time()), "model": request.model}
    finish = "tool_calls" if calls else "stop"
    if not request.stream:
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
        if calls:
            message["tool_calls"] = [_tool_call(call) for call in calls]
        choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
        body = {**head, "object": "chat.completion", "choices": [choice], "usage": usage(turn)}
        return json_reply(body)

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {**head, "object": "chat.completion.chunk", "choices": [choice]}

    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
    if turn.text:
        events.extend((None, chunk({"content": piece})) for piece in chunks(turn.text))
    for index, call in enumerate(calls):
        opening = {**_tool_call(call), "index": index}
        opening["function"] = {"name": call.name, "arguments": ""}
        events.append((None, chunk({"tool_calls": [opening]})))
        for piece in chunks(call.arguments_json):
            delta = {"index": index, "function": {"arguments": piece}}
            events.append((None, chunk({"tool_calls": [delta]})))
    last = chunk({}, finish)
    options = request.body.get("stream_options") or {}
    if options.get("include_usage"):
        events.append((None, last))
        last = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage(turn)}
    else:
        last["usage"] = usage(turn)
    events.extend([(None, last), (None, "[DONE]")])
    return sse_reply(events)
