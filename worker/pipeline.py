"""The run pipeline: checkout, agent in a sandbox, commit, then the steps of `worker.steps`
(policy, verification, review, publishing), and the outcome.

Plain functions with their dependencies passed in; the Celery task and `burndown run` call
`run_ticket`. Every ending is a recorded outcome, and the issue hears why when there is no
pull request. What a run does is decided by its plan (`worker.run_plan`); the pipeline only
performs the steps.
"""

import socket
import time
from dataclasses import replace
from datetime import timedelta

import structlog

from sandbox.errors import BurndownError
from sandbox.harness.run import HarnessRun, sandbox_user
from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL
from worker import texts
from worker.agent import run_recorded
from worker.events import EventRecorder, EventSink
from worker.git import Checkout, checkout
from worker.liveness import AGENT_SHARE, Deadline, RunGuard
from worker.logs import get_logger
from worker.pipeline_config import PipelineConfig, PipelineDeps
from worker.repo_config import CONFIG_FILE, RepoConfig, parse_repo_config
from worker.review import Review
from worker.run_plan import RunPlan, TicketChoice, plan_run, ticket_choice
from worker.steps import (
    Change,
    Checked,
    RunContext,
    check_policy,
    publish,
    review_step,
    verify_change,
)
from worker.store import liveness
from worker.store.models import CancelRequest, Outcome, OutcomeKind, RunKind, Ticket, utcnow
from worker.store.repo import RunResult, finish_run, get_ticket, mark_run, set_run_choice, start_run

__all__ = ["PipelineConfig", "PipelineDeps", "branch_for", "plan_for", "run_ticket"]

log = get_logger(__name__)


def plan_for(
    cfg: PipelineConfig,
    repo: RepoConfig,
    override: str | None = None,
    ticket: TicketChoice | None = None,
) -> RunPlan:
    """The run plan for a repository under this deployment's settings: its harness, options,
    and sandbox policy (limits within the operator's maxima, and the hosts it may reach)."""
    return plan_run(
        default_harness=cfg.harness,
        default_options=cfg.options,
        max_policy=cfg.policy,
        repo=repo,
        override=override,
        ticket=ticket,
        harness_models=cfg.harness_models,
        models=cfg.models,
        repo_allowable=cfg.repo_allowable_hosts,
        max_diff=cfg.diff_policy,
        review=cfg.review,
        review_harness=cfg.review_harness,
    )


def branch_for(ticket: Ticket, harness: str | None = None) -> str:
    """`burndown/issue-<n>`; `burndown/issue-<n>-<harness>` for one run of a comparison."""
    return f"burndown/issue-{ticket.number}" + (f"-{harness}" if harness else "")


def run_ticket(
    ticket_id: int,
    deps: PipelineDeps,
    *,
    harness: str | None = None,
    on_event: EventSink | None = None,
    branch: str | None = None,
    worker: str | None = None,
) -> Outcome | None:
    """Run the agent on a queued ticket. None when the ticket is not ours to run (another run
    holds it, or it is not queued): safe to call twice."""
    ticket = get_ticket(deps.engine, ticket_id)
    if ticket is None:
        log.warning("ticket not found", ticket_id=ticket_id)
        return None
    run = start_run(
        deps.engine,
        ticket_id,
        harness=harness or deps.config.harness,
        model=deps.config.options.model,
        branch=branch or branch_for(ticket),
    )
    if run is None:
        log.info("ticket not claimable; skipped", ticket_id=ticket_id, status=ticket.status)
        return None
    assert run.id is not None
    budget = deps.config.policy.timeout_seconds
    liveness.begin(
        deps.engine,
        run.id,
        deadline=utcnow() + timedelta(seconds=budget),
        worker=worker or socket.gethostname(),
    )
    with (
        structlog.contextvars.bound_contextvars(
            ticket_id=ticket_id, run_id=run.id, repo=ticket.repo, issue=ticket.number, kind=run.kind
        ),
        RunGuard(deps.engine, deps.runtime, run.id, deps.config.heartbeat_interval) as guard,
    ):
        ctx = RunContext(
            ticket=ticket,
            run=run,
            deps=deps,
            rec=EventRecorder(deps.engine, run.id, on_event=on_event),
            t0=time.monotonic(),
            labels={RUN_LABEL: str(run.id), DEPLOYMENT_LABEL: deps.config.deployment},
            deadline=Deadline.after(budget),
            guard=guard,
        )
        result = _outcome_of(ctx, harness)
        ctx.rec.flush()
        if guard.stopping:
            result = _stopped(ctx, result)
        elif result.outcome == OutcomeKind.FAILED:
            ctx.tell(texts.could_not_finish(result.detail, ctx.run_url))
        if guard.request == CancelRequest.REQUEUE:
            outcome = liveness.finish_and_requeue(deps.engine, run.id, result)
        else:
            outcome = finish_run(deps.engine, run.id, result)
        log.info(
            "run finished",
            outcome=outcome.kind,
            pr_url=outcome.pr_url,
            seconds=round(time.monotonic() - ctx.t0, 2),
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cost_usd=result.cost_usd,
            detail=result.detail[:300],
        )
        return outcome


def _outcome_of(ctx: RunContext, override: str | None) -> RunResult:
    """Run the steps; whatever stops them becomes the run's outcome."""
    try:
        return _execute(ctx, override)
    except BurndownError as exc:
        return RunResult(outcome=OutcomeKind.FAILED, detail=str(exc))
    except Exception as exc:  # a bug or Celery's soft time limit: still a recorded outcome
        log.exception("run stopped by an unexpected error")
        return RunResult(
            outcome=OutcomeKind.FAILED, detail=f"stopped by {type(exc).__name__}: {exc}"
        )


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
    return result  # lost: the reconciler already closed it and told the issue


def _execute(ctx: RunContext, override: str | None) -> RunResult:
    """Check out the ticket's branch, plan the run from the repository's config, and go."""
    cfg, github = ctx.deps.config, ctx.deps.github
    repo = github.get_repo(ctx.ticket.repo)
    followup = ctx.run.kind != RunKind.INITIAL
    t0 = time.monotonic()
    with checkout(
        repo.clone_url,
        ctx.deps.git_token,
        base_branch=ctx.run.branch if followup else repo.default_branch,
        branch=ctx.run.branch,
        # One folder per run, so the reconciler can sweep what a killed worker left.
        parent=cfg.work_dir / "workspaces" / f"run-{ctx.run.id}",
        timeout=ctx.deadline.cap(cfg.git_timeout),
    ) as co:
        ctx.rec.stage("clone", time.monotonic() - t0)
        base = co.rev(repo.default_branch)
        # The repository's config is always the default branch's, also for follow-ups
        # that start on the agent's own branch.
        rc = parse_repo_config(co.show(base, CONFIG_FILE))
        issue = github.get_issue(ctx.ticket.repo, ctx.ticket.number)
        plan = plan_for(
            cfg, rc, override, ticket_choice(issue.labels, issue.body, cfg.trigger_label)
        )
        for host in plan.refused_hosts:
            ctx.rec.sandbox(
                "allow_host_refused", {"host": host, "reason": "not allowed by the operator"}
            )
        assert ctx.run.id is not None
        set_run_choice(ctx.deps.engine, ctx.run.id, plan.harness.name, plan.options.model)
        others = [] if followup else co.others_commits(base, cfg.author_email)
        if others:  # a person's work on the branch: a run from the default branch would drop it
            detail = texts.others_on_branch(ctx.run.branch, others)
            return RunResult(outcome=OutcomeKind.FAILED, detail=detail)
        return _agent_and_after(ctx, co, base, repo.default_branch, plan)


def _agent_and_after(
    ctx: RunContext, co: Checkout, base: str, default_branch: str, plan: RunPlan
) -> RunResult:
    """The agent in its sandbox, the commit on the host, then the steps the plan asks for."""
    user = sandbox_user()
    co.give_to(co.path, user)
    job = ctx.job(plan, user, co.path, share=AGENT_SHARE)
    agent = run_recorded(ctx.deps.runtime, job, ctx.rec)
    result = _totals(agent, None, agent.exit.exit_code)
    problem = agent.problem()
    if problem or ctx.guard.stopping:
        return replace(result, detail=problem or "stopped")
    cfg = ctx.deps.config
    with ctx.stage("commit"):
        sha = co.commit_all(
            texts.commit_message(ctx.ticket, ctx.run), cfg.author_name, cfg.author_email
        )
    if sha is None:
        ctx.tell(texts.no_changes(plan.harness.name, ctx.run_url))
        return replace(result, outcome=OutcomeKind.NO_CHANGES, detail="the agent changed nothing")
    change = Change(co=co, base=base, sha=sha, plan=plan, user=user)
    violations = check_policy(ctx, change)
    if violations:
        return replace(
            result, outcome=OutcomeKind.REFUSED, detail="; ".join(str(v) for v in violations)
        )
    verification = verify_change(ctx, change)
    review = review_step(ctx, change)
    ctx.guard.check()
    if ctx.guard.stopping:  # asked to stop, or given up for lost: nothing is published
        return replace(result, detail="stopped before publishing")
    checked = Checked(agent, verification, review)
    assert ctx.run.id is not None
    mark_run(
        ctx.deps.engine,
        ctx.run.id,
        verified=verification.verified,
        draft=checked.draft,
        review_verdict=review.verdict if review else None,
    )
    return publish(
        ctx, change, default_branch, checked, _totals(agent, review, agent.exit.exit_code)
    )


def _totals(agent: HarnessRun, review: Review | None, exit_code: int | None) -> RunResult:
    runs = [agent, *([review.run] if review else [])]
    usages = [r.usage for r in runs if r.usage is not None]
    costs = [r.cost for r in runs]
    return RunResult(
        outcome=OutcomeKind.FAILED,
        exit_code=exit_code,
        input_tokens=sum(u.input_tokens for u in usages) if usages else None,
        output_tokens=sum(u.output_tokens for u in usages) if usages else None,
        cached_tokens=sum(u.cached_tokens for u in usages) if usages else None,
        cost_usd=None if any(c is None for c in costs) else sum(c for c in costs if c),
    )
