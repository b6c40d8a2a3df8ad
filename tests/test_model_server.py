"""The scripted model server over plain HTTP: each API's shapes, script rules, errors."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.support.model_server import (
    DONE_TEXT,
    SIDE_TEXT,
    Request,
    ScriptedModel,
    ToolCall,
    Turn,
    error_turn,
    shell_turn,
)

BASH = {"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {}}}}
ANTHROPIC_TOOLS = [BASH, {"name": "Read", "input_schema": {"type": "object"}}]
EXEC_COMMAND = {
    "type": "function",
    "name": "exec_command",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
}
SHELL_ARGV = {
    "type": "function",
    "name": "shell",
    "parameters": {"type": "object", "properties": {"command": {"type": "array"}}},
}
APPLY_PATCH = {"type": "custom", "name": "apply_patch", "format": {"type": "grammar"}}
CHAT_BASH = {
    "type": "function",
    "function": {"name": "bash", "parameters": {"properties": {"command": {"type": "string"}}}},
}


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel() as server:
        yield server


@pytest.fixture
def http(model: ScriptedModel) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=model.base_url, timeout=10) as client:
        yield client


def sse(response: httpx.Response) -> list[tuple[str | None, Any]]:
    """(event, data) pairs; data parsed as JSON unless it is `[DONE]`."""
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        data = fields["data"]
        events.append((fields.get("event"), data if data == "[DONE]" else json.loads(data)))
    return events


def text_of(response: httpx.Response) -> str:
    """The first text block of an Anthropic JSON answer."""
    return str(response.json()["content"][0]["text"])


def messages_body(history: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    body = {"model": "claude-test", "max_tokens": 1000, "tools": ANTHROPIC_TOOLS}
    return {**body, "messages": history or [{"role": "user", "content": "go"}], **extra}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# Anthropic Messages


def test_anthropic_stream_events_usage_and_tool_use(model: ScriptedModel, http: httpx.Client):
    model.set_script(
        [
            Turn(
                text="Running it now.",
                tool_calls=[ToolCall(shell="echo hi > hello.txt")],
                input_tokens=11,
                output_tokens=22,
                cached_tokens=33,
                cache_creation_tokens=4,
            )
        ]
    )
    response = http.post("/v1/messages?beta=true", json=messages_body(stream=True))
    assert response.status_code == 200
    events = sse(response)
    assert [name for name, _ in events] == [
        "message_start", "ping",
        "content_block_start", *["content_block_delta"] * 2, "content_block_stop",
        "content_block_start", *["content_block_delta"] * 5, "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    assert all(data["type"] == name for name, data in events)
    usage = {
        "input_tokens": 11,
        "output_tokens": 22,
        "cache_read_input_tokens": 33,
        "cache_creation_input_tokens": 4,
    }
    start = events[0][1]["message"]
    assert start["role"] == "assistant" and start["model"] == "claude-test"
    assert start["usage"] == {**usage, "output_tokens": 1}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"] == usage
    text = "".join(d["delta"]["text"] for n, d in events if d.get("index") == 0 and "delta" in d)
    assert text == "Running it now."
    tool_start = events[6][1]["content_block"]
    assert tool_start["type"] == "tool_use" and tool_start["name"] == "Bash"
    assert tool_start["input"] == {} and tool_start["id"].startswith("toolu_")
    partial = "".join(
        d["delta"]["partial_json"]
        for n, d in events
        if n == "content_block_delta" and d["index"] == 1
    )
    assert json.loads(partial) == {"command": "echo hi > hello.txt"}
    [recorded] = model.requests
    assert (recorded.path, recorded.query) == ("/v1/messages", "beta=true")
    assert recorded.api == "anthropic"
    assert recorded.turn_index == 0 and not recorded.side and recorded.status == 200
    assert recorded.body["model"] == "claude-test"
    assert recorded.headers["content-type"] == "application/json"


def test_anthropic_json_answer(model: ScriptedModel, http: httpx.Client):
    model.set_script([Turn(tool_calls=[ToolCall("Read", {"file_path": "/a"})]), Turn(text="ok")])
    first = http.post("/v1/messages", json=messages_body()).json()
    assert first["type"] == "message" and first["stop_reason"] == "tool_use"
    [block] = first["content"]
    assert (block["type"], block["name"]) == ("tool_use", "Read")
    assert block["input"] == {"file_path": "/a"}
    result = {"type": "tool_result", "tool_use_id": block["id"]}
    history = [
        user("go"),
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": [result]},
    ]
    second = http.post("/v1/messages", json=messages_body(history)).json()
    assert second["content"] == [{"type": "text", "text": "ok"}]
    assert second["stop_reason"] == "end_turn"
    assert second["usage"] == {
        "input_tokens": 100,
        "output_tokens": 20,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }


def test_count_tokens_head_and_unknown_paths(model: ScriptedModel, http: httpx.Client):
    counted = http.post("/v1/messages/count_tokens", json=messages_body())
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
    assert http.head("/").status_code == 200
    assert http.head("/api/hello").status_code == 200
    assert http.post("/v1/nothing", json={}).status_code == 404
    assert http.post("/v1/messages", content=b"{not json").status_code == 400
    assert model.model_requests() == []  # none of these consumed the script
    assert [r.status for r in model.requests] == [200, 200, 200, 404, 400]


# Script rules


def test_turn_chosen_by_assistant_turns_in_history(model: ScriptedModel, http: httpx.Client):
    model.set_script([Turn(text="one"), Turn(text="two")])

    def answer(history: list[dict[str, Any]]) -> str:
        return text_of(http.post("/v1/messages", json=messages_body(history)))

    assert answer([user("go")]) == "one"
    assert answer([user("go")]) == "one"  # a retry gets the same turn
    assert answer([user("go"), assistant("one"), user("more")]) == "two"
    # consecutive assistant messages are one turn; "system" entries in the history are ignored
    history = [user("go"), assistant("a"), assistant("b"), {"role": "system", "content": "x"}]
    assert answer(history) == "two"
    exhausted = [user("go"), assistant("one"), user("more"), assistant("two"), user("and?")]
    assert answer(exhausted) == DONE_TEXT
    assert [r.turn_index for r in model.requests] == [0, 0, 1, 1, 2]


def test_side_requests_do_not_consume_the_script(model: ScriptedModel, http: httpx.Client):
    model.set_script([Turn(text="scripted")])
    title = {"model": "claude-haiku", "max_tokens": 50, "messages": [user("title?")]}
    assert text_of(http.post("/v1/messages", json=title)) == SIDE_TEXT
    assert text_of(http.post("/v1/messages", json={**title, "tools": []})) == SIDE_TEXT
    assert text_of(http.post("/v1/messages", json=messages_body())) == "scripted"
    assert [(r.side, r.turn_index) for r in model.requests] == [
        (True, None),
        (True, None),
        (False, 0),
    ]
    assert [r.turn_index for r in model.model_requests("anthropic")] == [0]
    assert model.model_requests("chat") == []


def test_error_turn_is_served_once_then_the_retry_goes_on(model: ScriptedModel, http: httpx.Client):
    model.set_script([error_turn(529), Turn(text="after"), error_turn(500, "boom", {"x-a": "1"})])
    overloaded = http.post("/v1/messages", json=messages_body())
    assert overloaded.status_code == 529
    assert overloaded.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "scripted overloaded_error"},
    }
    assert text_of(http.post("/v1/messages", json=messages_body())) == "after"
    history = [user("go"), assistant("after"), user("again")]
    failed = http.post("/v1/messages", json=messages_body(history))
    assert (failed.status_code, failed.text, failed.headers["x-a"]) == (500, "boom", "1")
    assert text_of(http.post("/v1/messages", json=messages_body(history))) == DONE_TEXT
    # a new script also forgets which errors were served
    model.set_script([error_turn(400, {"error": {"message": "bad"}})])
    chat = {"model": "m", "messages": [user("go")], "tools": [CHAT_BASH]}
    refused = http.post("/v1/chat/completions", json=chat)
    assert (refused.status_code, refused.json()) == (400, {"error": {"message": "bad"}})
    assert [r.status for r in model.model_requests()] == [529, 200, 500, 200, 400]


def test_openai_default_error_body(model: ScriptedModel, http: httpx.Client):
    model.set_script([error_turn(500)])
    response = http.post("/v1/responses", json={"model": "m", "input": [], "tools": [SHELL_ARGV]})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


def test_callable_script_and_shell_turn_resolution(model: ScriptedModel, http: httpx.Client):
    seen: list[Request] = []

    def script(request: Request) -> Turn:
        seen.append(request)
        return shell_turn(None, f"echo {request.assistant_turns}")

    model.set_script(script)
    body = http.post("/v1/messages", json=messages_body()).json()
    assert body["content"][0]["input"] == {"command": "echo 0"}
    assert seen[0].tool_names == ["Bash", "Read"] and seen[0].api == "anthropic"
    # no shell tool offered: the harness decides, and without one the server answers 500
    model.set_script([shell_turn("mini-swe-agent", "ls"), shell_turn(None, "ls")])
    other = {
        "model": "m",
        "messages": [user("go")],
        "tools": [{"type": "function", "function": {"name": "python", "parameters": {}}}],
    }
    call = http.post("/v1/chat/completions", json=other).json()["choices"][0]["message"]
    assert call["tool_calls"][0]["function"] == {"name": "bash", "arguments": '{"command": "ls"}'}
    history = [
        user("go"),
        {"role": "assistant", "content": None, "tool_calls": call["tool_calls"]},
        {"role": "tool", "tool_call_id": "x", "content": "ok"},
    ]
    failed = http.post("/v1/chat/completions", json={**other, "messages": history})
    assert failed.status_code == 500 and "no shell tool" in failed.text
    assert len(model.failures) == 1 and "no shell tool" in model.failures[0]


def test_a_failing_callable_script_gives_a_500_with_the_reason(
    model: ScriptedModel, http: httpx.Client
):
    def script(request: Request) -> Turn:
        raise RuntimeError("no turn for you")

    model.set_script(script)
    response = http.post("/v1/messages", json=messages_body())
    assert response.status_code == 500 and "no turn for you" in response.text
    assert model.failures == ["POST /v1/messages: RuntimeError: no turn for you"]
    assert model.requests[0].status == 500


def test_tool_call_ids_are_unique(model: ScriptedModel, http: httpx.Client):
    model.set_script(lambda _: Turn(tool_calls=[ToolCall(shell="a"), ToolCall(shell="b")]))
    ids = [
        block["id"]
        for _ in range(5)
        for block in http.post("/v1/messages", json=messages_body()).json()["content"]
    ]
    assert len(ids) == len(set(ids)) == 10


def test_tool_call_needs_a_name_or_a_shell_command():
    with pytest.raises(ValueError):
        ToolCall()
    with pytest.raises(ValueError):
        ToolCall("Bash", shell="ls")
    with pytest.raises(ValueError):
        ToolCall(shell="ls", harness="vim")


# OpenAI Responses


def test_responses_stream_for_codex(model: ScriptedModel, http: httpx.Client):
    model.set_script(
        [
            Turn(
                text="Creating.",
                tool_calls=[ToolCall(shell="touch a")],
                input_tokens=300,
                output_tokens=40,
                cached_tokens=200,
                reasoning_tokens=5,
            )
        ]
    )
    body = {"model": "gpt-test", "input": [user("go")], "tools": [EXEC_COMMAND], "stream": True}
    events = sse(http.post("/v1/responses", json=body))
    names = [name for name, _ in events]
    assert names == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", *["response.function_call_arguments.delta"] * 3,
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert all(data["type"] == name for name, data in events)
    text = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    assert text == "Creating."
    arguments = "".join(d["delta"] for n, d in events if n.endswith("arguments.delta"))
    assert json.loads(arguments) == {"cmd": "touch a"}
    added = events[9][1]["item"]
    assert (added["type"], added["name"]) == ("function_call", "exec_command")
    assert added["arguments"] == ""
    done = events[-2][1]["item"]
    assert done["call_id"].startswith("call_") and done["arguments"] == arguments
    completed = events[-1][1]["response"]
    assert completed["status"] == "completed" and len(completed["output"]) == 2
    assert completed["usage"] == {
        "input_tokens": 300,
        "input_tokens_details": {"cached_tokens": 200},
        "output_tokens": 40,
        "output_tokens_details": {"reasoning_tokens": 5},
        "total_tokens": 340,
    }
    assert model.requests[0].api == "responses"


def test_responses_history_argv_shell_custom_and_local_shell(
    model: ScriptedModel, http: httpx.Client
):
    patch = "*** Begin Patch\n*** Add File: a\n+x\n*** End Patch\n"
    model.set_script(
        [
            shell_turn("codex", "ls"),
            Turn(tool_calls=[ToolCall("apply_patch", {"input": patch})]),
            shell_turn("codex", "pwd"),
        ]
    )
    tools = [SHELL_ARGV, APPLY_PATCH]
    first = http.post("/v1/responses", json={"model": "m", "input": [user("go")], "tools": tools})
    [call] = first.json()["output"]
    assert call["type"] == "function_call" and call["name"] == "shell"
    assert json.loads(call["arguments"]) == {"command": ["bash", "-lc", "ls"]}
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "a"}
    history = [user("go"), {"type": "reasoning", "summary": []}, call, output]
    second = http.post("/v1/responses", json={"model": "m", "input": history, "tools": tools})
    [custom] = second.json()["output"]
    assert (custom["type"], custom["name"], custom["input"]) == (
        "custom_tool_call",
        "apply_patch",
        patch,
    )
    history += [custom, {"type": "custom_tool_call_output", "call_id": custom["call_id"]}]
    local = {"model": "m", "input": history, "tools": [{"type": "local_shell"}], "stream": True}
    events = sse(http.post("/v1/responses", json=local))
    item = events[-2][1]["item"]
    assert item["type"] == "local_shell_call"
    assert item["action"] == {"type": "exec", "command": ["bash", "-lc", "pwd"]}
    assert [r.turn_index for r in model.requests] == [0, 1, 2]


def test_responses_text_only_json_and_models(http: httpx.Client):
    body = {"model": "m", "input": [user("go")], "tools": [EXEC_COMMAND]}
    answer = http.post("/v1/responses", json=body).json()
    assert answer["object"] == "response" and answer["status"] == "completed"
    [message] = answer["output"]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0]["type"] == "output_text"
    assert message["content"][0]["text"] == DONE_TEXT
    models = http.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["object"] == "model"


# OpenAI Chat Completions


def test_chat_json_with_tool_calls(model: ScriptedModel, http: httpx.Client):
    model.set_script(
        [shell_turn("mini-swe-agent", "ls", input_tokens=50, output_tokens=7, cached_tokens=30)]
    )
    body = {"model": "gpt-test", "messages": [user("go")], "tools": [CHAT_BASH]}
    answer = http.post("/v1/chat/completions", json=body).json()
    assert answer["object"] == "chat.completion" and answer["model"] == "gpt-test"
    [choice] = answer["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None and choice["message"]["role"] == "assistant"
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "bash", "arguments": '{"command": "ls"}'}
    assert answer["usage"] == {
        "prompt_tokens": 50,
        "completion_tokens": 7,
        "total_tokens": 57,
        "prompt_tokens_details": {"cached_tokens": 30},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert model.requests[0].api == "chat"


@pytest.mark.parametrize("include_usage", [True, False])
def test_chat_stream(model: ScriptedModel, http: httpx.Client, include_usage: bool):
    model.set_script([Turn(text="Listing files.", tool_calls=[ToolCall(shell="ls -la")])])
    body = {
        "model": "m",
        "messages": [user("go")],
        "tools": [CHAT_BASH],
        "stream": True,
        "stream_options": {"include_usage": include_usage},
    }
    events = sse(http.post("/chat/completions", json=body))  # "/v1" may be left out
    assert events[-1] == (None, "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == "Listing files."
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"]["name"] == "bash"
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls)) == {"command": "ls -la"}
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "tool_calls" and set(finish[:-1]) == {None}
    assert chunks[-1]["usage"]["prompt_tokens"] == 100
    assert (chunks[-1]["choices"] == []) is include_usage


# Transport


def test_gzip_body_and_concurrent_requests(model: ScriptedModel, http: httpx.Client):
    model.set_script([Turn(text="same")])
    packed = gzip.compress(json.dumps(messages_body()).encode())
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    assert http.post("/v1/messages", content=packed, headers=headers).status_code == 200

    def ask(_: int) -> str:  # one client, shared by the threads: its pool opens connections
        return text_of(http.post("/v1/messages", json=messages_body()))

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(ask, range(24))) == {"same"}
    assert len(model.requests) == 25


def test_base_urls_and_lifecycle():
    server = ScriptedModel(host="127.0.0.1", port=0)
    assert server.port > 0 and server.base_url == f"http://127.0.0.1:{server.port}"
    assert server.openai_base_url == server.base_url + "/v1"
    with server:
        assert httpx.head(server.base_url + "/").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.head(server.base_url + "/")
