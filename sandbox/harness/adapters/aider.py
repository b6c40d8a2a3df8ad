"""Aider, headless: `aider --message ... --yes-always`, its console tapped into JSON lines.

Aider has no event stream: it prints for people. The command runs Aider's own `main` under a
small wrapper (`shims/aider_run`) that prints, as JSON lines, each call of Aider's console methods
(assistant text, tool output, warnings, errors) and each analytics event (tokens and cost per
message, the exit reason); Aider's own console goes to stderr. Edits are files Aider reports as
"Applied edit to <path>". Aider edits files through text (no tool calls) and commits nothing here
(`--no-auto-commits`): the pipeline commits.

Options: the model (LiteLLM naming: a bare name gets `openai/`) and an extra system prompt (a
read-only conventions file, Aider's documented way). Aider has no turn or budget limit and no tool
switches: those are refused.
"""

from typing import Any

from sandbox.errors import HarnessError
from sandbox.harness.events import (
    EventKind,
    HarnessEvent,
    JsonLinesAdapter,
    ResultStatus,
    result_event,
)
from sandbox.harness.protocol import (
    HarnessInvocation,
    HarnessOptions,
    ModelAccess,
    Provider,
    v1_url,
)
from sandbox.harness.shims import shim_source

PYTHON = "/opt/aider/bin/python"
_APPLIED = "Applied edit to "


class Aider(JsonLinesAdapter):
    """Adapter for Aider (its console, tapped by the wrapper)."""

    name = "aider"
    default_base_url = "https://api.openai.com/v1"
    provider: Provider = "openai"
    supported_options = frozenset({"extra_system_prompt"})

    def __init__(self) -> None:
        self._tokens = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0}
        self._last_text = ""
        self._last_error = ""
        self._exit_reason = ""
        self._messages = 0
        self._sending = False  # a message went out and no answer came back (yet)
        self._result_seen = False

    def plan(
        self, prompt: str, options: HarnessOptions, access: ModelAccess, home: str
    ) -> HarnessInvocation:
        env = _env(access, home, options.extra_system_prompt or "")
        return HarnessInvocation(argv=_argv(prompt, options, access), env=env)

    def _map(self, n: dict[str, Any]) -> list[HarnessEvent]:
        kind = n.get("type")
        if kind == "start":
            return [
                HarnessEvent(
                    kind=EventKind.SESSION_START,
                    data={
                        "session_id": None,
                        "model": None,
                        "cwd": None,
                        "tools": [],
                        "version": n.get("version"),
                    },
                )
            ]
        if kind == "io":
            return self._io(str(n.get("method")), str(n.get("text") or ""), bool(n.get("log_only")))
        if kind == "event":
            return self._event(str(n.get("event")), n.get("properties") or {})
        if kind == "exit":
            return self._exit(n)
        return []

    def _io(self, method: str, text: str, log_only: bool) -> list[HarnessEvent]:
        if method == "assistant_output":
            self._last_text = text
            return [HarnessEvent(kind=EventKind.ASSISTANT_TEXT, data={"text": text})]
        if method == "tool_error":
            self._last_error = text
            return [HarnessEvent(kind=EventKind.ERROR, data={"message": text})]
        if method == "tool_output" and text.startswith(_APPLIED) and not log_only:
            path = text.removeprefix(_APPLIED).strip()
            return [HarnessEvent(kind=EventKind.FILE_CHANGE, data={"path": path, "kind": "update"})]
        return [HarnessEvent(kind=EventKind.NATIVE, data={"type": f"io.{method}", "text": text})]

    def _event(self, name: str, props: dict[str, Any]) -> list[HarnessEvent]:
        if name == "message_send_starting":
            self._sending = True
        if name == "message_send":
            self._sending = False
            self._messages += 1
            self._tokens["input_tokens"] += int(props.get("prompt_tokens") or 0)
            self._tokens["output_tokens"] += int(props.get("completion_tokens") or 0)
            events = [HarnessEvent(kind=EventKind.USAGE, data=dict(self._tokens))]
            total = float(props.get("total_cost") or 0)
            if total > 0:  # Aider prices an unknown model at 0: that is unknown, not free
                events.append(
                    HarnessEvent(kind=EventKind.COST, data={"usd": total, "source": "harness"})
                )
            return events
        if name == "exit":
            self._exit_reason = str(props.get("reason") or "")
        return [HarnessEvent(kind=EventKind.NATIVE, data={"type": f"event.{name}"})]

    def _exit(self, n: dict[str, Any]) -> list[HarnessEvent]:
        self._result_seen = True
        code = n.get("code")
        # Aider exits 0 even when the model never answered (it says so as a tool error)
        if code == 0 and not n.get("error") and not self._sending:
            return [result_event(ResultStatus.SUCCESS, self._last_text, turns=self._messages)]
        why = n.get("error") or self._last_error or self._exit_reason or f"exit code {code}"
        return [result_event(ResultStatus.ERROR, str(why), turns=self._messages)]


def _argv(prompt: str, options: HarnessOptions, access: ModelAccess) -> list[str]:
    if not options.model:
        raise HarnessError(
            "harness 'aider' needs a model: set BURNDOWN_MODEL or `model:` in .burndown.yml"
        )
    model = options.model if "/" in options.model else f"openai/{options.model}"
    argv = [
        PYTHON,
        "-c",
        shim_source("aider_run"),
        "--model",
        model,
        "--message",
        prompt,
        "--yes-always",
        "--no-auto-commits",
        "--no-dirty-commits",
        "--no-gitignore",  # it would add .aider* to the repository's .gitignore
        "--no-pretty",
        "--no-stream",
        "--no-check-update",
        "--no-show-release-notes",
        "--no-show-model-warnings",
        "--analytics-disable",
        "--no-restore-chat-history",
        # its history files would otherwise land in the checkout, and in the pull request
        "--input-history-file",
        "/tmp/aider/input.history",
        "--chat-history-file",
        "/tmp/aider/chat.history.md",
    ]
    if access.base_url:
        argv += ["--openai-api-base", v1_url(access.base_url)]
    return argv


def _env(access: ModelAccess, home: str, conventions: str) -> dict[str, str]:
    env = {
        "HOME": home,
        "PYTHONUNBUFFERED": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no price list download
        "AIDER_CHECK_UPDATE": "false",
    }
    if conventions:
        env["BURNDOWN_AIDER_CONVENTIONS"] = conventions
    if access.api_key:
        env["OPENAI_API_KEY"] = access.api_key.get_secret_value()
    return env
