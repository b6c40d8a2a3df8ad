"""The scripted sessions each adapter is run through, live in the sandbox tests and once to
capture `recordings/<harness>-<scenario>.jsonl` (`python -m tests.sandbox.record`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.harness.protocol import HarnessOptions
from tests.sandbox.harness_runner import MODEL
from tests.support.model_server import Request, ScriptSource, Turn, error_turn, shell_turn

FIX = "sed -i s/helo/hello/ greeting.txt"
SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
# Aider edits through text; for a model it has no settings for it asks for whole files.
AIDER_EDIT = "I will fix it.\n\ngreeting.txt\n```\nhello\n```\n"


def in_order(turns: list[Turn]) -> Callable[[Request], Turn]:
    """A script answering requests in arrival order (Aider's prompt carries example assistant
    turns, so the server cannot count its own turns in the history)."""
    served = [0]

    def script(_: Request) -> Turn:
        i = served[0]
        served[0] += 1
        return turns[i] if i < len(turns) else Turn(text="Done.")

    return script


@dataclass(frozen=True)
class Scenario:
    harness: str
    name: str
    script: Callable[[], ScriptSource]
    options: HarnessOptions = field(default_factory=lambda: HarnessOptions(model=MODEL))


def _fix_then_text() -> ScriptSource:
    return [
        shell_turn(None, FIX, input_tokens=120, output_tokens=30, cached_tokens=10),
        Turn(text="Fixed the greeting.", input_tokens=200, output_tokens=12),
    ]


SCENARIOS = [
    Scenario("codex", "success", _fix_then_text),
    Scenario("codex", "error", lambda: [error_turn(400)]),
    Scenario(
        "mini-swe-agent",
        "success",
        lambda: [
            shell_turn(None, FIX, text="Fixing.", input_tokens=120, output_tokens=30),
            shell_turn(None, SUBMIT, input_tokens=200, output_tokens=12),
        ],
    ),
    Scenario(
        "mini-swe-agent",
        "max-turns",
        lambda: [shell_turn(None, "ls"), shell_turn(None, "ls"), shell_turn(None, SUBMIT)],
        HarnessOptions(model=MODEL, max_turns=1),
    ),
    Scenario(
        "mini-swe-agent",
        "budget",
        lambda: [shell_turn(None, "ls", input_tokens=5000), shell_turn(None, SUBMIT)],
        HarnessOptions(model=MODEL, max_budget_usd=0.001),
    ),
    Scenario("mini-swe-agent", "error", lambda: [error_turn(401)]),
    Scenario(
        "aider",
        "success",
        lambda: in_order([Turn(text=AIDER_EDIT, input_tokens=120, output_tokens=30)]),
    ),
    Scenario("aider", "error", lambda: in_order([error_turn(401)])),
    Scenario(
        "claude-code",
        "budget",
        lambda: [shell_turn(None, "ls", input_tokens=5000), Turn(text="done")],
        HarnessOptions(max_budget_usd=0.001),
    ),
    Scenario(
        "claude-code",
        "error",
        lambda: [error_turn(529)],
        HarnessOptions(extra_env={"CLAUDE_CODE_MAX_RETRIES": "0"}),
    ),
]


def scenario(harness: str, name: str) -> Scenario:
    return next(s for s in SCENARIOS if (s.harness, s.name) == (harness, name))
