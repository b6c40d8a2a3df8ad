"""The run pipeline: checkout, sandboxed harness, commit, push, pull request, outcome.

Plain functions with their dependencies passed in; the Celery task and `burndown run` call
`run_ticket`. Failures end as recorded outcomes and an issue comment, never as a lost ticket.
"""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import structlog
from sqlalchemy import Engine

from sandbox.errors import BurndownError
from sandbox.harness.access import ModelEndpoints
from sandbox.harness.base import HarnessOptions
from sandbox.harness.events import EventKind, HarnessEvent, ResultStatus, cost_of, usage_of
from sandbox.runtime import RUN_LABEL, ContainerExit, ContainerRuntime, SandboxPolicy
from worker.events import EventRecorder, EventSink
from worker.git import Checkout, checkout
from worker.github.protocol import GitHubClient
from worker.harness_run import SandboxTarget, harness_spec, run_harness
from worker.repo_config import CONFIG_FILE, parse_repo_config
from worker.run_plan import RunPlan, plan_run, ticket_choice
from worker.store.models import Outcome, OutcomeKind, Run, Ticket
from worker.store.repo import RunResult, finish_run, get_ticket, set_run_choice, start_run

log = structlog.get_logger("pipeline")

SANDBOX_UID = 1000
MARKER = "<!-- burndown -->"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline needs from settings, resolved once."""

    image: str
    harness: str
    work_dir: Path
    options: HarnessOptions = field(default_factory=HarnessOptions)
    models: ModelEndpoints = field(default_factory=ModelEndpoints)
    harness_models: dict[str, str] = field(default_factory=dict)
    trigger_label: str = "burndown"
    policy: SandboxPolicy = field(default_factory=SandboxPolicy)
    git_timeout: float = 300.0
    author_name: str = "burndown[bot]"
    author_email: str = "burndown@users.noreply.github.com"
    public_url: str = "http://localhost:8000"


@dataclass(frozen=True)
class PipelineDeps:
    """The external systems a run touches."""

    engine: Engine
    github: GitHubClient
    runtime: ContainerRuntime
    git_token: str | None
    config: PipelineConfig


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
    with structlog.contextvars.bound_contextvars(
        ticket_id=ticket_id, run_id=run.id, repo=ticket.repo, issue=ticket.number
    ):
        t0 = time.monotonic()
        recorder = EventRecorder(deps.engine, run.id, on_event=on_event)
        try:
            result = _execute(ticket, run, deps, harness, recorder)
        except BurndownError as exc:
            result = RunResult(outcome=OutcomeKind.FAILED, detail=str(exc))
        recorder.flush()
        if result.outcome == OutcomeKind.FAILED:
            _tell(deps, ticket, _failure_comment(result.detail, deps.config, run.id))
        outcome = finish_run(deps.engine, run.id, result)
        log.info(
            "run finished",
            outcome=outcome.kind,
            pr_url=outcome.pr_url,
            seconds=round(time.monotonic() - t0, 2),
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cost_usd=result.cost_usd,
            detail=result.detail[:300],
        )
        return outcome


def _execute(
    ticket: Ticket, run: Run, deps: PipelineDeps, override: str | None, rec: EventRecorder
) -> RunResult:
    cfg = deps.config
    t0 = time.monotonic()
    repo = deps.github.get_repo(ticket.repo)
    with checkout(
        repo.clone_url,
        deps.git_token,
        base_branch=repo.default_branch,
        branch=run.branch,
        parent=cfg.work_dir / "workspaces",
        timeout=cfg.git_timeout,
    ) as co:
        rec.stage("clone", time.monotonic() - t0)
        issue = deps.github.get_issue(ticket.repo, ticket.number)
        plan = plan_run(
            default_harness=cfg.harness,
            default_options=cfg.options,
            max_policy=cfg.policy,
            repo=parse_repo_config(co.read_base_file(CONFIG_FILE)),
            override=override,
            ticket=ticket_choice(issue.labels, issue.body, cfg.trigger_label),
            harness_models=cfg.harness_models,
        )
        assert run.id is not None
        set_run_choice(deps.engine, run.id, plan.harness.name, plan.options.model)
        harness = plan.harness
        exit_ = _run_harness(ticket, run, deps, plan, rec, co)
        usage = usage_of(rec.events)
        done = RunResult(
            outcome=OutcomeKind.FAILED,
            exit_code=exit_.exit_code,
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            cached_tokens=usage.cached_tokens if usage else None,
            cost_usd=cost_of(rec.events),
        )
        problem = _problem(exit_, rec)
        if problem:
            return replace(done, detail=problem)
        with _stage(rec, "commit"):
            sha = co.commit_all(_commit_message(ticket), cfg.author_name, cfg.author_email)
        if sha is None:
            _tell(
                deps,
                ticket,
                f"{MARKER}\nBurndown ran `{harness.name}` on this issue and it "
                f"made no changes, so there is no pull request. Run: {_run_link(cfg, run)}",
            )
            return replace(done, outcome=OutcomeKind.NO_CHANGES, detail="the agent changed nothing")
        with _stage(rec, "push"):
            co.push(force=True)
        with _stage(rec, "pull_request"):
            pr = deps.github.find_open_pull(ticket.repo, run.branch) or deps.github.open_pull(
                ticket.repo,
                head=run.branch,
                base=co.base_branch,
                title=f"{ticket.title} (#{ticket.number})",
                body=_pr_body(ticket, run, harness.name, rec, cfg),
            )
            _tell(
                deps, ticket, f"{MARKER}\nBurndown opened a pull request for this issue: {pr.url}"
            )
        return replace(
            done,
            outcome=OutcomeKind.PR_OPENED,
            pr_url=pr.url,
            pr_number=pr.number,
            detail=f"{len(co.changed_files(sha))} files changed",
        )


def _run_harness(
    ticket: Ticket,
    run: Run,
    deps: PipelineDeps,
    plan: RunPlan,
    rec: EventRecorder,
    co: Checkout,
) -> ContainerExit:
    cfg, harness = deps.config, plan.harness
    if os.geteuid() == 0:
        co.chown_for(SANDBOX_UID, SANDBOX_UID)
        user = f"{SANDBOX_UID}:{SANDBOX_UID}"
    else:
        user = f"{os.getuid()}:{os.getgid()}"
    target = SandboxTarget(
        image=cfg.image,
        workspace=co.path,
        user=user,
        policy=plan.policy,
        labels={RUN_LABEL: str(run.id)},
    )
    access = cfg.models.access_for(harness)
    spec = harness_spec(harness, _prompt(ticket), plan.options, access, target)
    t0 = time.monotonic()
    first: list[float] = []

    def on_event(event: HarnessEvent) -> None:
        if not first:
            first.append(time.monotonic() - t0)
            rec.stage("first_event", first[0])
        rec.harness(event)

    exit_ = run_harness(deps.runtime, harness, spec, on_event, model=plan.options.model)
    rec.stage("container_start", exit_.started_after_seconds)
    rec.stage("harness", time.monotonic() - t0, exit_code=exit_.exit_code)
    return exit_


def _problem(exit_: ContainerExit, rec: EventRecorder) -> str | None:
    if exit_.timed_out:
        return "the agent hit the run's time limit and was stopped"
    if exit_.idle_timed_out:
        return "the agent printed nothing for too long and was stopped"
    if exit_.oom_killed:
        return "the agent ran out of memory"
    results = [e for e in rec.events if e.kind == EventKind.RESULT]
    if not results:
        tail = exit_.stderr_tail.strip()[-500:]
        return f"the harness exited with code {exit_.exit_code} without a result: {tail}"
    status = results[-1].data.get("status")
    if status != ResultStatus.SUCCESS:
        return f"the harness ended with status {status}: {results[-1].data.get('text', '')}"
    if exit_.exit_code != 0:
        return f"the harness exited with code {exit_.exit_code}"
    return None


@contextmanager
def _stage(rec: EventRecorder, name: str) -> Iterator[None]:
    t0 = time.monotonic()
    yield
    rec.stage(name, time.monotonic() - t0)


def _tell(deps: PipelineDeps, ticket: Ticket, body: str) -> None:
    try:
        deps.github.comment(ticket.repo, ticket.number, body)
    except BurndownError as exc:  # the outcome is recorded either way; the comment is a courtesy
        log.warning("could not comment on the issue", error=str(exc))


def _prompt(ticket: Ticket) -> str:
    return (
        f"Resolve this GitHub issue of the repository {ticket.repo}, whose checkout is the "
        "current directory. Make the change in the working tree; do not commit or push, the "
        "changes are collected for you.\n\n"
        f"Issue #{ticket.number}: {ticket.title}\n\n{ticket.body}"
    )


def _commit_message(ticket: Ticket) -> str:
    return f"{ticket.title}\n\nCloses #{ticket.number}.\n\nMade by Burndown."


def _run_link(cfg: PipelineConfig, run: Run) -> str:
    return f"{cfg.public_url.rstrip('/')}/runs/{run.id}"


def _pr_body(
    ticket: Ticket, run: Run, harness: str, rec: EventRecorder, cfg: PipelineConfig
) -> str:
    texts = [e.data.get("text", "") for e in rec.events if e.kind == EventKind.RESULT]
    summary = (texts[-1] if texts else "").strip() or "(the agent gave no summary)"
    usage, cost = usage_of(rec.events), cost_of(rec.events)
    tokens = f"{usage.input_tokens} in / {usage.output_tokens} out" if usage else "unknown"
    return (
        f"{MARKER}\nCloses #{ticket.number}\n\n## What the agent says\n\n{summary}\n\n"
        f"## Run\n\n- Harness: `{harness}`\n- Model: `{run.model or 'default'}`\n"
        f"- Tokens: {tokens}\n- Cost: {'unknown' if cost is None else f'${cost:.4f}'}\n"
        f"- Run: {_run_link(cfg, run)}\n"
    )


def _failure_comment(detail: str, cfg: PipelineConfig, run_id: int) -> str:
    return (
        f"{MARKER}\nBurndown could not finish this issue: {detail}\n\n"
        f"Run: {cfg.public_url.rstrip('/')}/runs/{run_id}"
    )
