"""The `scripted` harness: plays a list of actions instead of asking a model, for the tests and
benches where the real CLI is not the thing under test (in the spirit of mini-swe-agent's
DeterministicModel and SWE-ReX's dummy runtime).

It runs in the real sandbox image with nothing but its `python3` (the player, `shims/
scripted_run`, is passed with `python3 -c`) and needs no network; or, with a fake runtime, in
this process (`play_in_process` is a `FakeRuntime` script). Its native output is JSON lines that
map to unified events like any adapter's. The script comes from the instance
(`ScriptedHarness(Script(...))`) or, for runs started by name (the pipeline, `burndown harness
run scripted`), from the `BURNDOWN_SCRIPT` variable of the extra environment, which wins.
"""

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.errors import HarnessError
from sandbox.harness.events import (
    EventKind,
    HarnessEvent,
    JsonLinesAdapter,
    ResultStatus,
    result_event,
)
from sandbox.harness.protocol import HarnessInvocation, HarnessOptions, ModelAccess, Provider
from sandbox.harness.shims import scripted_run, shim_source
from sandbox.runtime import ContainerSpec

SCRIPT_ENV = "BURNDOWN_SCRIPT"


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Say(_Action):
    """Print assistant text (the last one is the result's text)."""

    type: Literal["say"] = "say"
    text: str


class Write(_Action):
    """Write a file (relative to the tree, or absolute), as a tool call."""

    type: Literal["write"] = "write"
    path: str
    content: str = ""


class Run(_Action):
    """Run a command (a string for `/bin/sh -c`, or an argv), as a tool call."""

    type: Literal["run"] = "run"
    command: str | list[str]
    timeout_seconds: float = Field(600.0, gt=0)


class Sleep(_Action):
    """Do nothing for a while (and print nothing: the idle watchdog sees it)."""

    type: Literal["sleep"] = "sleep"
    seconds: float = Field(ge=0)


class Output(_Action):
    """Print `bytes` bytes of non-JSON lines of `line_bytes` bytes each (newline included)."""

    type: Literal["output"] = "output"
    bytes: int = Field(ge=0)
    line_bytes: int = Field(1000, gt=0)
    stream: Literal["stdout", "stderr"] = "stdout"


class ReportUsage(_Action):
    """Report the run's token totals so far, and a cost when given."""

    type: Literal["usage"] = "usage"
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    cached_tokens: int = Field(0, ge=0)
    cost_usd: float | None = Field(None, ge=0)


class Finish(_Action):
    """End with a result of `status`; the exit code is 0 for success, else 1, unless given."""

    type: Literal["finish"] = "finish"
    status: ResultStatus = ResultStatus.SUCCESS
    text: str = ""
    exit_code: int | None = None


class Exit(_Action):
    """End without a result, as a crashing harness does."""

    type: Literal["exit"] = "exit"
    code: int = 1


Action = Annotated[
    Say | Write | Run | Sleep | Output | ReportUsage | Finish | Exit,
    Field(discriminator="type"),
]


class Script(BaseModel):
    """What the scripted harness does, in order; without a `finish` or `exit` it ends with
    success. `max_turns` counts writes and runs; `max_budget_usd` the reported costs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actions: list[Action] = Field(default_factory=list)
    model: str | None = None
    system_prompt: str | None = None
    """Shown in the first native line (`start`), as a real harness would pass it on."""
    max_turns: int | None = Field(None, gt=0)
    max_budget_usd: float | None = Field(None, gt=0)


class ScriptedHarness(JsonLinesAdapter):
    """A harness that plays a `Script`: no model, no network, the real sandbox or none."""

    name = "scripted"
    default_base_url = "http://scripted.invalid"
    provider: Provider = "openai"
    supported_options = frozenset({"max_turns", "max_budget_usd", "extra_system_prompt"})

    def __init__(self, script: Script | None = None) -> None:
        self._script = script
        self._result_seen = False

    def plan(
        self, prompt: str, options: HarnessOptions, access: ModelAccess, home: str
    ) -> HarnessInvocation:
        script = self._script_for(options)
        script = script.model_copy(
            update={
                "model": options.model or script.model,
                "system_prompt": options.extra_system_prompt or script.system_prompt,
                "max_turns": options.max_turns or script.max_turns,
                "max_budget_usd": options.max_budget_usd or script.max_budget_usd,
            }
        )
        env = {"HOME": home, "PYTHONUNBUFFERED": "1", SCRIPT_ENV: script.model_dump_json()}
        return HarnessInvocation(
            argv=["python3", "-c", shim_source("scripted_run"), prompt], env=env
        )

    def _script_for(self, options: HarnessOptions) -> Script:
        text = options.extra_env.get(SCRIPT_ENV)
        if text is None:
            if self._script is None:
                raise HarnessError(
                    f"harness 'scripted' needs a script: {SCRIPT_ENV} in its extra environment"
                )
            return self._script
        try:
            return Script.model_validate_json(text)
        except ValidationError as exc:
            raise HarnessError(f"harness 'scripted': {SCRIPT_ENV} is not a script: {exc}") from exc

    def _map(self, n: dict[str, Any]) -> list[HarnessEvent]:
        kind = n.get("type")
        if kind == "start":
            data = {"session_id": None, "model": n.get("model"), "cwd": n.get("cwd")}
            return [
                HarnessEvent(
                    kind=EventKind.SESSION_START,
                    data={**data, "tools": ["write", "run"], "version": n.get("version")},
                )
            ]
        if kind == "say":
            return [HarnessEvent(kind=EventKind.ASSISTANT_TEXT, data={"text": n.get("text", "")})]
        if kind == "tool":
            data = {"id": n.get("id"), "name": n.get("name"), "input": n.get("input") or {}}
            return [HarnessEvent(kind=EventKind.TOOL_CALL, data=data)]
        if kind == "tool_done":
            return _tool_done(n)
        if kind == "usage":
            return _usage(n)
        if kind == "result":
            self._result_seen = True
            status = ResultStatus(str(n.get("status")))
            return [result_event(status, str(n.get("text", "")), turns=n.get("turns"))]
        return []


def _tool_done(n: dict[str, Any]) -> list[HarnessEvent]:
    data = {
        "id": n.get("id"),
        "output": str(n.get("output", "")),
        "is_error": bool(n.get("is_error")),
    }
    events = [HarnessEvent(kind=EventKind.TOOL_RESULT, data=data)]
    for path in n.get("files") or []:
        events.append(HarnessEvent(kind=EventKind.FILE_CHANGE, data={"path": path}))
    return events


def _usage(n: dict[str, Any]) -> list[HarnessEvent]:
    keys = ("input_tokens", "output_tokens", "cached_tokens")
    events = [HarnessEvent(kind=EventKind.USAGE, data={k: int(n.get(k) or 0) for k in keys})]
    if n.get("cost_usd") is not None:
        data = {"usd": float(n["cost_usd"]), "source": "harness"}
        events.append(HarnessEvent(kind=EventKind.COST, data=data))
    return events


def play_in_process(spec: ContainerSpec, workspace: Path | None) -> tuple[list[str], int]:
    """A `FakeRuntime` script: play the spec's script here, on `workspace` (the host folder
    of the mount), as the sandbox would; its stdout lines and exit code (stderr is dropped)."""
    if workspace is None:
        raise HarnessError("the scripted harness needs a workspace mount")
    script = json.loads(spec.env.get(SCRIPT_ENV) or "{}")
    prompt = spec.command[3] if len(spec.command) > 3 else ""
    lines: list[str] = []
    code = scripted_run.play(script, prompt, str(workspace), lines.append, lambda _line: None)
    return lines, code
