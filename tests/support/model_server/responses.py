"""OpenAI Responses API answers (`POST /v1/responses`, SSE and JSON), as Codex reads them."""

from __future__ import annotations

import time
from typing import Any

from tests.support.model_server import wire
from tests.support.model_server.script import ErrorReply, Request, ResolvedCall, Turn, new_id
from tests.support.model_server.wire import Reply, chunks, json_reply, sse_reply

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "server_error",
}


def error_reply(error: ErrorReply) -> Reply:
    """OpenAI's error shape (Responses and Chat Completions alike)."""
    kind = _ERROR_TYPES.get(error.status, "server_error")
    message = f"scripted {kind} ({error.status})"
    default = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return wire.error_reply(error, default)


def usage(turn: Turn) -> dict[str, Any]:
    return {
        "input_tokens": turn.input_tokens,
        "input_tokens_details": {"cached_tokens": turn.cached_tokens},
        "output_tokens": turn.output_tokens,
        "output_tokens_details": {"reasoning_tokens": turn.reasoning_tokens},
        "total_tokens": turn.input_tokens + turn.output_tokens,
    }


def _call_item(call: ResolvedCall, status: str, arguments: str | None = None) -> dict[str, Any]:
    base = {"id": "fc" + call.id.removeprefix("call"), "call_id": call.id, "status": status}
    if call.kind == "local_shell":
        return {"type": "local_shell_call", **base, "action": call.arguments}
    if call.kind == "custom":
        text = call.arguments.get("input")
        payload = text if isinstance(text, str) else call.arguments_json
        return {"type": "custom_tool_call", **base, "name": call.name, "input": payload}
    args = call.arguments_json if arguments is None else arguments
    return {"type": "function_call", **base, "name": call.name, "arguments": args}


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": content}  # fmt: skip


def response_reply(request: Request, turn: Turn, calls: list[ResolvedCall]) -> Reply:
    response: dict[str, Any] = {
        "id": new_id("resp"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": request.model,
        "output": [],
        "usage": None,
        "error": None,
        "incomplete_details": None,
    }
    message_id = new_id("msg")
    output: list[dict[str, Any]] = []
    if turn.text or not calls:
        output.append(_message_item(message_id, turn.text, "completed"))
    output.extend(_call_item(call, "completed") for call in calls)
    done = {**response, "status": "completed", "output": output, "usage": usage(turn)}
    if not request.stream:
        return json_reply(done)

    events: list[tuple[str | None, Any]] = []

    def emit(kind: str, **data: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": len(events), **data}))

    emit("response.created", response=response)
    emit("response.in_progress", response=response)
    index = 0
    if turn.text or not calls:
        part = {"type": "output_text", "text": "", "annotations": []}
        ids = {"item_id": message_id, "output_index": index}
        emit("response.output_item.added", output_index=index,
             item={**_message_item(message_id, "", "in_progress"), "content": []})  # fmt: skip
        emit("response.content_part.added", **ids, content_index=0, part=part)
        for piece in chunks(turn.text):
            emit("response.output_text.delta", **ids, content_index=0, delta=piece)
        emit("response.output_text.done", **ids, content_index=0, text=turn.text)
        emit("response.content_part.done", **ids, content_index=0,
             part={**part, "text": turn.text})  # fmt: skip
        emit("response.output_item.done", output_index=index, item=output[index])
        index += 1
    for call in calls:
        item = output[index]
        ids = {"item_id": item["id"], "output_index": index}
        emit("response.output_item.added", output_index=index,
             item=_call_item(call, "in_progress", arguments=""))  # fmt: skip
        if call.kind == "function":
            for piece in chunks(call.arguments_json):
                emit("response.function_call_arguments.delta", **ids, delta=piece)
            emit("response.function_call_arguments.done", **ids, arguments=call.arguments_json)
        emit("response.output_item.done", output_index=index, item=item)
        index += 1
    emit("response.completed", response=done)
    return sse_reply(events)


def models_reply(model: str = "gpt-5") -> Reply:
    """`GET /v1/models`: OpenAI's list shape, plus Codex's `models` key."""
    return json_reply(
        {
            "object": "list",
            "data": [{"id": model, "object": "model", "created": 0, "owned_by": "scripted"}],
            "models": [],
        }
    )
