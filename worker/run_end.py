"""How a run ends: its outcome recorded, the issue told, and its ticket queued again where it
should run again (its worker shutting down, or its sandbox unable to start)."""

from dataclasses import replace

from worker import texts
from worker.logs import get_logger
from worker.run_cost import over_budget
from worker.steps import RunContext
from worker.store import liveness
from worker.store.models import CancelRequest, Outcome, OutcomeKind, TicketStatus
from worker.store.repo import RunResult, finish_run

log = get_logger(__name__)


def settle(ctx: RunContext, result: RunResult) -> Outcome:
    """Record how the run ended, tell the issue, and queue the ticket again where it should run
    again (its worker is shutting down, or its sandbox could not start)."""
    guard, engine, run_id = ctx.guard, ctx.deps.engine, ctx.run.id or 0
    if guard.stopping:
        result = _stopped(ctx, result)
        if result.outcome == OutcomeKind.REFUSED:  # the run's files outgrew their limit
            ctx.tell(texts.could_not_finish(result.detail, ctx.run_url))
    elif ctx.budget.overrun is not None:
        result = over_budget(ctx, result)
    elif result.retry:
        return _retry_later(ctx, result)
    elif result.outcome == OutcomeKind.FAILED:
        ctx.tell(texts.could_not_finish(result.detail, ctx.run_url))
    if guard.request == CancelRequest.REQUEUE:
        outcome = liveness.finish_and_requeue(engine, run_id, result)
    else:
        outcome = finish_run(engine, run_id, result)
    final = texts.status_final(outcome.kind, outcome.pr_url, outcome.detail, ctx.run_url)
    ctx.status(final, final=True)
    return outcome


def _retry_later(ctx: RunContext, result: RunResult) -> Outcome:
    """Close a run the sandbox could not start and queue its ticket again, in one transaction;
    after `max_run_attempts` runs it is a dead letter and the issue hears why."""
    attempts = ctx.deps.config.max_run_attempts
    outcome, status = liveness.finish_and_retry(
        ctx.deps.engine,
        ctx.run.id or 0,
        result,
        max_attempts=attempts,
        reason=f"the sandbox could not start in {attempts} attempts: {result.detail}",
    )
    if status == TicketStatus.QUEUED:
        ctx.status(texts.status_retrying(result.detail, ctx.run_url))
    else:
        ctx.tell(texts.could_not_finish(result.detail, ctx.run_url))
        ctx.status(texts.status_final(outcome.kind, None, outcome.detail, ctx.run_url), final=True)
    log.warning("sandbox unavailable", ticket=status, detail=result.detail[:300])
    return outcome


def _stopped(ctx: RunContext, result: RunResult) -> RunResult:
    """The outcome of a run asked to stop: cancelled (a person asked: the issue hears it), or
    queued again (its worker is shutting down)."""
    guard = ctx.guard
    if guard.request == CancelRequest.REQUEUE:
        detail = "its worker shut down; queued again"
        return replace(result, outcome=OutcomeKind.CANCELLED, detail=detail)
    if guard.request == CancelRequest.CANCEL:
        ctx.tell(texts.cancelled(ctx.run_url))
        return replace(result, outcome=OutcomeKind.CANCELLED, detail="cancelled")
    if guard.over_disk:
        mb = ctx.deps.config.workspace_max_bytes // 2**20
        return replace(
            result,
            outcome=OutcomeKind.REFUSED,
            detail=f"the run's files grew past the {mb} MiB limit; its sandbox was stopped",
        )
    return result  # lost: the reconciler already closed it and told the issue
