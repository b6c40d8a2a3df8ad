"""The scripted model server: one local endpoint speaking the Anthropic Messages, OpenAI
Responses and Chat Completions APIs, answering from a script of turns.

`server` is the HTTP server, `script` the turns and how they are followed, `wire` the shared
reply framing, and `anthropic`, `responses`, `chat` each API's request and reply shapes.
"""

from tests.support.model_server.script import (
    DONE_TEXT,
    SIDE_TEXT,
    Api,
    ErrorReply,
    RecordedRequest,
    Request,
    ScriptError,
    ScriptSource,
    ToolCall,
    ToolSpec,
    Turn,
    error_turn,
    shell_turn,
)
from tests.support.model_server.server import ScriptedModel

__all__ = [
    "DONE_TEXT",
    "SIDE_TEXT",
    "Api",
    "ErrorReply",
    "RecordedRequest",
    "Request",
    "ScriptError",
    "ScriptSource",
    "ScriptedModel",
    "ToolCall",
    "ToolSpec",
    "Turn",
    "error_turn",
    "shell_turn",
]
