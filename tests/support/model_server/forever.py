"""Scripts of a model that never stops: every request gets the same turn (a shell call, say),
so a harness goes on until something outside it stops it. For the run-limit tests."""

import time
from collections.abc import Callable

from tests.support.model_server.script import Request, Turn, shell_turn


def forever(turn: Turn) -> Callable[[Request], Turn]:
    """A script answering every (non-side) request with `turn`."""
    return lambda request: turn


def shell_forever(
    harness: str | None, command: str = "echo again", *, input_tokens: int = 100
) -> Callable[[Request], Turn]:
    """A model that answers every request with one more shell call, never a final text."""
    return forever(shell_turn(harness, command, input_tokens=input_tokens))


def paced(script: Callable[[Request], Turn], seconds: float) -> Callable[[Request], Turn]:
    """`script`, each answer given after `seconds`: a model takes time to think, and a scripted
    one answering within a millisecond lets a harness make calls faster than any real run."""

    def answer(request: Request) -> Turn:
        time.sleep(seconds)
        return script(request)

    return answer
