"""A run's hard limits, enforced by Burndown outside the agent, whatever the harness.

`BudgetWatch` sees every unified event of a run as it streams (agent and reviewer alike),
prices the usage as it arrives (or takes the harness's own reported cost when it is higher),
counts model turns, and when the run crosses its dollar cap or turn limit it stops the run's
sandboxes through the container runtime at once: the harness cannot talk its way past it.
The limits are the operator's (`BURNDOWN_RUN_BUDGET_USD`, `BURNDOWN_RUN_MAX_TURNS`), for every
harness; a harness option (`max_budget_usd`, `max_turns`, for the harnesses that take them)
lowers them and stays the harness's own second line of defence.
"""

import threading
from dataclasses import dataclass
from typing import TypeVar

from sandbox.harness.events import EventKind, HarnessEvent, ResultStatus, Usage
from sandbox.harness.prices import PriceTable
from sandbox.harness.protocol import Harness, HarnessOptions
from sandbox.runtime import DEFAULT_DEPLOYMENT, ContainerRuntime
from worker.logs import get_logger

log = get_logger(__name__)
_N = TypeVar("_N", int, float)

_TURN_EVENTS = frozenset({EventKind.ASSISTANT_TEXT, EventKind.THINKING, EventKind.TOOL_CALL})
_HARNESS_LIMITS: dict[str, str] = {
    ResultStatus.BUDGET: "its budget",
    ResultStatus.MAX_TURNS: "its turn limit",
}


@dataclass(frozen=True)
class RunLimits:
    """A run's dollar cap and turn limit; None: no limit of that kind."""

    max_usd: float | None = None
    max_turns: int | None = None

    def within(self, options: HarnessOptions) -> "RunLimits":
        """These limits, lowered by those the run's options ask of the harness (which Burndown
        then enforces too, as a second line behind the harness's own)."""
        return RunLimits(
            max_usd=_lower(self.max_usd, options.max_budget_usd),
            max_turns=_lower(self.max_turns, options.max_turns),
        )


def harness_options(harness: Harness, options: HarnessOptions, limits: RunLimits) -> HarnessOptions:
    """`options` with the run's limits handed to `harness` too where it enforces them itself
    (Claude Code's `--max-budget-usd` and `--max-turns`, mini-swe-agent's limits): a second
    line. For Claude Code it counts a message's output tokens, which its stream shows only in
    its result (its messages carry their input as they begin)."""
    update: dict[str, float | int | None] = {}
    if "max_budget_usd" in harness.supported_options and limits.max_usd is not None:
        update["max_budget_usd"] = limits.max_usd
    if "max_turns" in harness.supported_options and limits.max_turns is not None:
        update["max_turns"] = limits.max_turns
    return options.model_copy(update=update)


def _lower(a: _N | None, b: _N | None) -> _N | None:
    return b if a is None else a if b is None else min(a, b)


@dataclass(frozen=True)
class Overrun:
    """Why a run was stopped for its limits, and what it had spent by then."""

    reason: str
    spent_usd: float | None
    turns: int
    by_harness: bool = False
    """The harness stopped itself at its own limit (Burndown's watch had not tripped yet)."""


class BudgetWatch:
    """An event sink that enforces a run's `RunLimits` (see the module's docstring).

    Usage events carry one harness stream's totals so far; a new `session_start` begins a new
    stream (the reviewer's), whose spend adds to what the earlier ones spent."""

    def __init__(
        self,
        limits: RunLimits,
        *,
        runtime: ContainerRuntime,
        run_id: str,
        prices: PriceTable,
        model: str | None = None,
        deployment: str = DEFAULT_DEPLOYMENT,
    ) -> None:
        self.limits, self._runtime, self._run_id = limits, runtime, run_id
        self._deployment = deployment
        self._prices, self._default_model = prices, model
        self._lock = threading.Lock()
        self._earlier_usd = 0.0
        self._earlier_unknown = False
        self._stream_usd: float | None = None
        self._stream_model = model
        self._stream_unpriced = False
        self._in_turn = False
        self._started = False
        self.turns = 0
        self.overrun: Overrun | None = None
        self.gateway_usd: float | None = None
        """What the gateway recorded for the run's own key, once the run ended."""

    @property
    def spent_usd(self) -> float | None:
        """What the run has spent so far; None when some of it has no known price."""
        if self._earlier_unknown or self._stream_unpriced:
            return None
        return round(self._earlier_usd + (self._stream_usd or 0.0), 8)

    def __call__(self, event: HarnessEvent) -> None:
        with self._lock:
            self._see(event)
            reason = self._over()
            if reason and self.overrun is None:
                self.overrun = Overrun(reason, self.spent_usd, self.turns)
                stopped = self._runtime.stop_run(self._run_id, self._deployment)
                log.warning("run over its limit; sandboxes stopped", reason=reason, stopped=stopped)

    def _see(self, event: HarnessEvent) -> None:
        kind, data = event.kind, event.data
        if kind == EventKind.SESSION_START:
            self._new_stream(data.get("model"))
        elif kind == EventKind.USAGE:
            self._started = True
            usd = self._prices.cost_usd(self._stream_model, Usage.model_validate(data))
            self._stream_unpriced = usd is None and self._stream_usd is None
            if usd is not None:
                self._stream_usd = max(usd, self._stream_usd or 0.0)
        elif kind == EventKind.COST and data.get("usd") is not None:
            self._started = True
            self._stream_unpriced = False
            self._stream_usd = max(float(data["usd"]), self._stream_usd or 0.0)
        elif kind == EventKind.RESULT:
            self._harness_stopped(data.get("status"))
        if kind in _TURN_EVENTS:
            if not self._in_turn:
                self.turns += 1
            self._in_turn = True
        elif kind == EventKind.TOOL_RESULT:
            self._in_turn = False

    def _new_stream(self, model: object) -> None:
        if self._started:
            self._earlier_unknown = self._earlier_unknown or self._stream_unpriced
            self._earlier_usd += self._stream_usd or 0.0
        self._stream_usd, self._stream_unpriced, self._started = None, False, False
        self._stream_model = model if isinstance(model, str) and model else self._default_model
        self._in_turn = False

    def _harness_stopped(self, status: object) -> None:
        """A harness that stopped itself at a limit of this run's (not a default of its own)."""
        ours: dict[object, bool] = {
            ResultStatus.BUDGET: self.limits.max_usd is not None,
            ResultStatus.MAX_TURNS: self.limits.max_turns is not None,
        }
        what = _HARNESS_LIMITS.get(status) if isinstance(status, str) else None
        if what and ours.get(status) and self.overrun is None:
            self.overrun = Overrun(
                f"the harness stopped at {what}", self.spent_usd, self.turns, by_harness=True
            )

    def _over(self) -> str | None:
        spent, cap = self.spent_usd, self.limits.max_usd
        if cap is not None and spent is not None and spent >= cap:
            return f"spent ${spent:.4f} of its ${cap:.2f} budget"
        turns = self.limits.max_turns
        if turns is not None and self.turns > turns:
            return f"started turn {self.turns} of at most {turns}"
        return None
