"""The pipeline's money hooks: the budgets above the run checked before a ticket runs, the
live budget watch fed every event, the run's own gateway key around the run, and the `budget`
outcome with what was spent."""

from collections.abc import Callable
from dataclasses import replace

from sandbox.harness.events import HarnessEvent
from worker import spend, texts
from worker.events import EventSink
from worker.gateway_keys import GatewayKeyError, run_key
from worker.logs import get_logger
from worker.pipeline_config import PipelineDeps
from worker.steps import RunContext, tell
from worker.store.models import OutcomeKind, PipelineEventKind, Ticket
from worker.store.repo import RunResult, finish_run, start_run

log = get_logger(__name__)

KEY_GRACE_SECONDS = 120
"""A run key outlives the run's deadline by this much (the run's own end deletes it)."""


def held(deps: PipelineDeps, ticket: Ticket, branch: str) -> bool:
    """Whether a spent budget above the run keeps `ticket` from running now: it waits (stays
    queued, and is sent again later) or is refused with a comment, by setting."""
    assert ticket.id is not None
    standing = spend.spent_budget(deps.engine, deps.config.budgets, ticket.repo)
    if standing is None:
        if ticket.held_reason is not None:
            spend.set_held(deps.engine, ticket.id, None)
        return False
    reason = standing.describe()
    if deps.config.budgets.when_spent == spend.WhenSpent.WAIT:
        log.info("ticket waits: a budget is spent", ticket_id=ticket.id, budget=reason)
        spend.set_held(deps.engine, ticket.id, f"waits: {reason} is spent")
        return True
    run = start_run(deps.engine, ticket.id, harness=deps.config.harness, model=None, branch=branch)
    if run is not None and run.id is not None:
        detail = f"{reason} is spent"
        finish_run(deps.engine, run.id, RunResult(outcome=OutcomeKind.BUDGET, detail=detail))
        tell(deps, ticket, texts.budget_refused(reason))
    return True


def both(first: EventSink, then: EventSink | None) -> EventSink:
    def sink(event: HarnessEvent) -> None:
        first(event)
        if then is not None:
            then(event)

    return sink


def keyed_outcome(ctx: RunContext, outcome_of: Callable[[RunContext], RunResult]) -> RunResult:
    """The run's outcome, with its own gateway key when the gateway makes keys: the key is
    deleted when the run ends, whatever way, and the spend the gateway recorded kept."""
    keys = ctx.deps.gateway_keys
    if keys is None:
        return outcome_of(ctx)
    seconds = int(ctx.deadline.remaining()) + KEY_GRACE_SECONDS
    alias = f"burndown-{ctx.deps.config.deployment}-run-{ctx.run.id}"
    try:
        with run_key(keys, alias, max_budget_usd=ctx.budget.limits.max_usd, seconds=seconds) as use:
            result = outcome_of(replace(ctx, key=use))
    except GatewayKeyError as exc:
        return RunResult(outcome=OutcomeKind.FAILED, detail=f"no run key from the gateway: {exc}")
    ctx.budget.gateway_usd = use.gateway_spend_usd
    assert ctx.run.id is not None
    spend.record_gateway_spend(ctx.deps.engine, ctx.run.id, use.gateway_spend_usd)
    ctx.rec.note(
        PipelineEventKind.SPEND,
        {"burndown_usd": ctx.budget.spent_usd, "gateway_usd": use.gateway_spend_usd},
    )
    return result


def over_budget(ctx: RunContext, result: RunResult) -> RunResult:
    """The outcome of a run stopped at its limits: `budget`, and the issue hears the spend."""
    over, watch = ctx.budget.overrun, ctx.budget
    assert over is not None
    spent = watch.spent_usd if watch.spent_usd is not None else result.cost_usd
    ctx.rec.note(
        PipelineEventKind.BUDGET,
        {
            "reason": over.reason,
            "spent_usd": spent,
            "turns": over.turns,
            "gateway_usd": watch.gateway_usd,
            "by_harness": over.by_harness,
        },
    )
    tell(
        ctx.deps, ctx.ticket, texts.over_budget(over.reason, spent, watch.gateway_usd, ctx.run_url)
    )
    return replace(result, outcome=OutcomeKind.BUDGET, detail=over.reason)
