"""The live budget watch: spend priced as it streams, turns counted, the run stopped once."""

from sandbox.fakes import FakeRuntime
from sandbox.harness.events import EventKind, HarnessEvent, ResultStatus
from sandbox.harness.prices import PriceTable
from sandbox.harness.protocol import HarnessOptions
from sandbox.harness.registry import get_harness
from worker.budget import BudgetWatch, RunLimits, harness_options

PRICES = PriceTable.model_validate({"prices": {"m": {"input": 1.0, "output": 2.0}}})


def ev(kind: EventKind, **data: object) -> HarnessEvent:
    return HarnessEvent(kind=kind, data=data)


def usage(inp: int, out: int) -> HarnessEvent:
    return ev(EventKind.USAGE, input_tokens=inp, output_tokens=out, cached_tokens=0)


def watch(limits: RunLimits) -> tuple[BudgetWatch, FakeRuntime]:
    runtime = FakeRuntime(lambda spec, ws: ([], 0))
    return BudgetWatch(limits, runtime=runtime, run_id="7", prices=PRICES, model="m"), runtime


def test_usage_is_priced_as_it_arrives_and_the_run_stopped_once_at_its_cap() -> None:
    w, runtime = watch(RunLimits(max_usd=1.0))
    w(usage(200_000, 100_000))  # $0.40
    assert w.spent_usd == 0.4 and w.overrun is None and runtime.stopped == []
    w(usage(400_000, 300_000))  # totals so far: $1.00
    assert runtime.stopped == ["7"]
    assert w.overrun is not None and "$1.0000 of its $1.00 budget" in w.overrun.reason
    w(usage(900_000, 300_000))
    assert runtime.stopped == ["7"]  # stopped once


def test_the_harness_reported_cost_counts_when_it_is_higher() -> None:
    w, runtime = watch(RunLimits(max_usd=0.5))
    w(usage(1000, 0))
    w(ev(EventKind.COST, usd=0.75, source="harness"))
    assert w.spent_usd == 0.75 and runtime.stopped == ["7"]


def test_a_second_stream_adds_to_what_the_first_spent() -> None:
    w, runtime = watch(RunLimits(max_usd=1.0))
    w(ev(EventKind.SESSION_START, model="m"))
    w(usage(300_000, 100_000))  # $0.50
    w(ev(EventKind.SESSION_START, model="m"))  # the reviewer
    w(usage(100_000, 0))
    assert w.spent_usd == 0.6 and runtime.stopped == []
    w(usage(500_000, 0))
    assert w.spent_usd == 1.0 and runtime.stopped == ["7"]


def test_an_unknown_price_is_unknown_and_stops_nothing() -> None:
    w, runtime = watch(RunLimits(max_usd=0.01))
    w(ev(EventKind.SESSION_START, model="nobody-knows"))
    w(usage(10_000_000, 10_000_000))
    assert w.spent_usd is None and runtime.stopped == []
    w(ev(EventKind.COST, usd=0.02, source="harness"))
    assert w.spent_usd == 0.02 and runtime.stopped == ["7"]


def test_turns_are_counted_from_the_stream_and_the_next_one_stopped() -> None:
    w, runtime = watch(RunLimits(max_turns=2))
    for _ in range(2):
        w(ev(EventKind.THINKING, text="hm"))
        w(ev(EventKind.TOOL_CALL, id="1", name="bash", input={}))
        w(ev(EventKind.TOOL_RESULT, id="1", output="", is_error=False))
    assert w.turns == 2 and runtime.stopped == []
    w(ev(EventKind.ASSISTANT_TEXT, text="again"))
    assert w.turns == 3 and runtime.stopped == ["7"]
    assert w.overrun is not None and "turn 3 of at most 2" in w.overrun.reason


def test_a_harness_stopping_at_its_own_limit_is_an_overrun_without_a_kill() -> None:
    w, runtime = watch(RunLimits(max_usd=5.0))
    w(ev(EventKind.RESULT, status=ResultStatus.BUDGET, text=""))
    assert w.overrun is not None and w.overrun.by_harness and runtime.stopped == []


def test_no_limits_never_stop() -> None:
    w, runtime = watch(RunLimits())
    w(usage(10**9, 10**9))
    assert w.overrun is None and runtime.stopped == []


def test_a_harness_option_lowers_the_operator_limits() -> None:
    operator = RunLimits(max_usd=2.0, max_turns=None)
    assert operator.within(HarnessOptions(max_turns=3, max_budget_usd=5.0)) == RunLimits(2.0, 3)
    assert operator.within(HarnessOptions(max_budget_usd=1.0)) == RunLimits(1.0, None)
    assert RunLimits().within(HarnessOptions()) == RunLimits()


def test_a_harness_stopping_at_a_default_limit_of_its_own_is_no_overrun() -> None:
    w, _ = watch(RunLimits(max_usd=5.0))
    w(ev(EventKind.RESULT, status=ResultStatus.MAX_TURNS, text=""))
    assert w.overrun is None


def test_the_run_limits_go_to_the_harnesses_that_enforce_them_too() -> None:
    limits = RunLimits(max_usd=1.5, max_turns=4)
    claude = harness_options(get_harness("claude-code"), HarnessOptions(model="m"), limits)
    assert (claude.max_budget_usd, claude.max_turns, claude.model) == (1.5, 4, "m")
    codex = harness_options(get_harness("codex"), HarnessOptions(), limits)
    assert (codex.max_budget_usd, codex.max_turns) == (None, None)
    kept = harness_options(get_harness("claude-code"), HarnessOptions(max_turns=2), RunLimits())
    assert kept.max_turns == 2
