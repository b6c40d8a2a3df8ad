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
from pathlib import Path
from typing import Any

import structlog

from sandbox.errors import BurndownError, SandboxUnavailable
from sandbox.harness.run import HarnessRun, sandbox_user
from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL
from worker import texts
from worker.agent import run_recorded
from worker.branches import issue_branch
from worker.budget import BudgetWatch, harness_options
from worker.events import EventRecorder, EventSink
from worker.git import Checkout, checkout
from worker.github.protocol import Issue
from worker.github.ratelimit import reporting_waits
from worker.linear.ratelimit import reporting_waits as linear_waits
from worker.liveness import AGENT_SHARE, Deadline, RunGuard
from worker.logs import get_logger
from worker.pipeline_config import PipelineConfig, PipelineDeps
from worker.repo_config import CONFIG_FILE, RepoConfig, parse_repo_config
from worker.review import Review
from worker.run_cost import both, held, keyed_outcome
from worker.run_end import settle
from worker.run_environment import prepare_environment
from worker.run_plan import RunPlan, TicketChoice, harness_label, plan_run, ticket_choice
from worker.sanitize import clean
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
from worker.store.models import (
    Outcome,
    OutcomeKind,
    PipelineEventKind,
    Provider,
    RunKind,
    Ticket,
    TicketStatus,
    utcnow,
)
from worker.store.repo import RunResult, get_ticket, mark_run, set_run_choice, start_run

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
    """`burndown/issue-<n>` (Linear: `burndown/eng-123`); `...-<harness>` for one run of a
    comparison."""
    return issue_branch(ticket.tracker_key or ticket.number, harness)


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
    if ticket.status == TicketStatus.QUEUED and held(deps, ticket, branch or branch_for(ticket)):
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
    watch = BudgetWatch(
        deps.config.limits.within(deps.config.options),
        runtime=deps.runtime,
        run_id=str(run.id),
        prices=deps.config.prices,
        model=deps.config.options.model,
        deployment=deps.config.deployment,
    )
    with (
        structlog.contextvars.bound_contextvars(
            ticket_id=ticket_id, run_id=run.id, repo=ticket.repo, issue=ticket.number, kind=run.kind
        ),
        RunGuard(
            deps.engine,
            deps.runtime,
            run.id,
            deps.config.heartbeat_interval,
            folder=_run_folder(deps, run.id),
            max_bytes=deps.config.workspace_max_bytes,
            deployment=deps.config.deployment,
        ) as guard,
    ):
        ctx = RunContext(
            ticket=ticket,
            run=run,
            deps=deps,
            rec=EventRecorder(
                deps.engine, run.id, on_event=both(watch, on_event), secrets=deps.config.secrets
            ),
            t0=time.monotonic(),
            labels={RUN_LABEL: str(run.id), DEPLOYMENT_LABEL: deps.config.deployment},
            deadline=Deadline.after(budget),
            guard=guard,
            budget=watch,
        )

        def waited(wait: float, why: dict[str, Any]) -> None:
            ctx.rec.note(PipelineEventKind.RATE_LIMITED, {"seconds": wait, **why})

        with reporting_waits(waited), linear_waits(waited):
            result = keyed_outcome(ctx, lambda c: _outcome_of(c, harness))
        ctx.rec.close()
        outcome = settle(ctx, result)
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


def _run_folder(deps: PipelineDeps, run_id: int | None) -> Path:
    """One folder per run, so its size can be watched and the reconciler can sweep what a
    killed worker left."""
    return deps.config.work_dir / "workspaces" / f"run-{run_id}"


def _outcome_of(ctx: RunContext, override: str | None) -> RunResult:
    """Run the steps; whatever stops them becomes the run's outcome."""
    try:
        return _execute(ctx, override)
    except SandboxUnavailable as exc:
        # Docker out of reach or failing on its side before the agent said anything: nothing
        # was spent, so the ticket waits and runs again rather than failing a whole backlog.
        return RunResult(outcome=OutcomeKind.FAILED, detail=str(exc), retry=ctx.rec.stored == 0)
    except BurndownError as exc:
        return RunResult(outcome=OutcomeKind.FAILED, detail=str(exc))
    except Exception as exc:  # a bug or Celery's soft time limit: still a recorded outcome
        log.exception("run stopped by an unexpected error")
        return RunResult(
            outcome=OutcomeKind.FAILED, detail=f"stopped by {type(exc).__name__}: {exc}"
        )


def _execute(ctx: RunContext, override: str | None) -> RunResult:
    """Check out the ticket's branch, plan the run from the repository's config, and go."""
    cfg, github = ctx.deps.config, ctx.deps.github
    repo = github.get_repo(ctx.ticket.repo)
    followup = ctx.run.kind != RunKind.INITIAL
    t0 = time.monotonic()
    with checkout(
        repo.clone_url,
        ctx.deps.token_for(ctx.ticket.repo),
        base_branch=ctx.run.branch if followup else repo.default_branch,
        branch=ctx.run.branch,
        parent=_run_folder(ctx.deps, ctx.run.id),
        timeout=ctx.deadline.cap(cfg.git_timeout),
        cache=ctx.deps.repo_cache,
        user=sandbox_user(),
        spares=cfg.spare_trees,
    ) as co:
        ctx.rec.stage("clone", time.monotonic() - t0)
        for stage, seconds in co.stages.items():
            ctx.rec.stage(stage, seconds)
        t0 = time.monotonic()
        base = co.rev(repo.default_branch)
        # The repository's config is always the default branch's, also for follow-ups
        # that start on the agent's own branch.
        rc = parse_repo_config(co.show(base, CONFIG_FILE))
        issue = ctx.deps.tracker(ctx.ticket).current(ctx.ticket)
        stale = _no_longer_wanted(ctx, issue)
        if stale:  # things changed since the label: the person's wish is re-checked now
            ctx.tell(texts.not_started(stale, ctx.run_url))
            return RunResult(outcome=OutcomeKind.CANCELLED, detail=f"not started: {stale}")
        # The body is the one pinned at label time, as a reader saw it: edits since do not count.
        choice = ticket_choice(issue.labels, clean(ctx.ticket.body).text, cfg.trigger_label)
        plan = plan_for(cfg, rc, override, choice)
        if hidden := texts.hidden_in_task(ctx.ticket, ctx.run):
            ctx.rec.note(PipelineEventKind.HIDDEN_TEXT, hidden)
        for host in plan.refused_hosts:
            ctx.rec.sandbox(
                "allow_host_refused", {"host": host, "reason": "not allowed by the operator"}
            )
        assert ctx.run.id is not None
        set_run_choice(ctx.deps.engine, ctx.run.id, plan.harness.name, plan.options.model)
        ctx.status(texts.status_running(plan.harness.name, plan.options.model, ctx.run_url))
        ctx.budget.limits = cfg.limits.within(plan.options)
        others = [] if followup else co.others_commits(base, cfg.author_email)
        if others:  # a person's work on the branch: a run from the default branch would drop it
            detail = texts.others_on_branch(ctx.run.branch, others)
            return RunResult(outcome=OutcomeKind.FAILED, detail=detail)
        ctx.rec.stage("plan", time.monotonic() - t0)  # config, issue re-check, status comment
        return _agent_and_after(ctx, co, base, repo.default_branch, plan)


def _no_longer_wanted(ctx: RunContext, issue: Issue) -> str | None:
    """Why the ticket must not run after all, as things are when the run claims it: the issue
    closed, the trigger label gone (a delegated Linear issue needs none), or the person who
    asked without write access (or Linear trust) now."""
    cfg, followup = ctx.deps.config, ctx.run.kind != RunKind.INITIAL
    if not followup and issue.state != "open":
        return "the issue is closed"
    trigger = cfg.trigger_label
    labels = issue.labels
    if ctx.ticket.provider == Provider.LINEAR:  # Linear's label names ignore case, as intake
        labels = [trigger if lb.lower() == trigger.lower() else lb for lb in labels]
    delegated = ctx.ticket.agent_session_id is not None
    if not (followup or delegated) and not any(
        lb == trigger or harness_label(lb, trigger) for lb in labels
    ):
        return f"the `{trigger}` label is no longer on the issue"
    who = ctx.run.requested_by
    if who and not ctx.deps.tracker(ctx.ticket).trusted(ctx.ticket, who):
        return texts.no_longer_trusted(ctx.ticket, who)
    return None


def _agent_and_after(
    ctx: RunContext, co: Checkout, base: str, default_branch: str, plan: RunPlan
) -> RunResult:
    """The agent in its sandbox, the commit on the host, then the steps the plan asks for."""
    user = sandbox_user()
    co.give_to(co.path, user)
    options = harness_options(plan.harness, plan.options, ctx.budget.limits)
    env = prepare_environment(ctx, co, base, plan, user).outcome
    job = ctx.job(
        plan, user, co.path, share=AGENT_SHARE, options=options, image=env.image, warm=True
    )
    agent = run_recorded(ctx.deps.runtime, job, ctx.rec, prices=ctx.deps.config.prices)
    result = _totals(agent, None, agent.exit.exit_code)
    problem = agent.problem()
    if problem or ctx.guard.stopping or ctx.budget.overrun:
        return replace(result, detail=problem or "stopped")
    cfg = ctx.deps.config
    message = texts.commit_message(ctx.ticket, ctx.run)
    if secret := ctx.secret_in("the commit message", message):
        return replace(result, outcome=OutcomeKind.REFUSED, detail=secret)
    with ctx.stage("commit"):
        sha = co.commit_all(message, cfg.author_name, cfg.author_email)
    if sha is None:
        ctx.tell(texts.no_changes(plan.harness.name, ctx.run_url))
        return replace(result, outcome=OutcomeKind.NO_CHANGES, detail="the agent changed nothing")
    change = Change(
        co=co, base=base, sha=sha, plan=plan, user=user, image=env.image, setup_done=env.ready
    )
    violations = check_policy(ctx, change)
    if violations:
        return replace(
            result, outcome=OutcomeKind.REFUSED, detail="; ".join(str(v) for v in violations)
        )
    ctx.status(texts.status_verifying(ctx.run_url))
    verification = verify_change(ctx, change)
    review = review_step(ctx, change)
    ctx.guard.check()
    if ctx.guard.stopping or ctx.budget.overrun:  # nothing is published
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
