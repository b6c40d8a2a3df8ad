"""The run pipeline: checkout, agent in a sandbox, commit, policy, verification, review,
push, pull request, outcome.

Plain functions with their dependencies passed in; the Celery task and `burndown run` call
`run_ticket`. Every ending is a recorded outcome, and the issue hears why when there is no
pull request.
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
from sandbox.harness.base import HarnessOptions, get_harness
from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL, ContainerRuntime, SandboxPolicy
from worker.agent import HarnessRun, run_harness
from worker.branches import issue_branch
from worker.diff_policy import DiffPolicy, Violation, check_diff
from worker.events import EventRecorder, EventSink
from worker.git import Checkout, checkout
from worker.github.protocol import GitHubClient
from worker.harness_run import SandboxTarget
from worker.publish import MARKER, RunFacts, open_or_update, pr_body
from worker.repo_config import CONFIG_FILE, RepoConfig, parse_repo_config
from worker.review import Review, review_change
from worker.run_plan import RunPlan, TicketChoice, plan_run, ticket_choice
from worker.store.models import Outcome, OutcomeKind, Run, RunKind, Ticket
from worker.store.repo import (
    RunResult,
    finish_run,
    get_ticket,
    mark_run,
    set_run_choice,
    start_run,
)
from worker.verify import Verification, detect_commands, verify

log = structlog.get_logger("pipeline")

SANDBOX_UID = 1000


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
    """The operator's maxima; its `allow_hosts` are reachable from every sandbox."""
    repo_allowable_hosts: tuple[str, ...] = ()
    """What a repository's `sandbox.allow_hosts` may ask for."""
    deployment: str = "burndown"
    """Labels this deployment's sandbox resources, so that its reaper touches only those."""
    diff_policy: DiffPolicy = field(default_factory=DiffPolicy)
    review: bool = False
    review_harness: str | None = None
    pr_label: str = "burndown"
    git_timeout: float = 300.0
    author_name: str = "burndown[bot]"
    author_email: str = "burndown@users.noreply.github.com"
    public_url: str = "http://localhost:8000"

    def run_url(self, run_id: int | None) -> str:
        return f"{self.public_url.rstrip('/')}/runs/{run_id}"


@dataclass(frozen=True)
class PipelineDeps:
    """The external systems a run touches."""

    engine: Engine
    github: GitHubClient
    runtime: ContainerRuntime
    git_token: str | None
    config: PipelineConfig


def sandbox_user() -> str:
    """The sandbox's uid:gid: the image's non-root user when we are root, else our own ids
    (so the checkout we own stays writable inside)."""
    if os.geteuid() == 0:
        return f"{SANDBOX_UID}:{SANDBOX_UID}"
    return f"{os.getuid()}:{os.getgid()}"


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
    )


def branch_for(ticket: Ticket, harness: str | None = None) -> str:
    """`burndown/issue-<n>`; `burndown/issue-<n>-<harness>` for one run of a comparison."""
    return issue_branch(ticket.number, harness)


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
        ticket_id=ticket_id, run_id=run.id, repo=ticket.repo, issue=ticket.number, kind=run.kind
    ):
        t0 = time.monotonic()
        recorder = EventRecorder(deps.engine, run.id, on_event=on_event)
        try:
            result = _Run(ticket, run, deps, recorder, t0).execute(harness)
        except BurndownError as exc:
            result = RunResult(outcome=OutcomeKind.FAILED, detail=str(exc))
        recorder.flush()
        if result.outcome == OutcomeKind.FAILED:
            _tell(
                deps,
                ticket,
                f"{MARKER}\nBurndown could not finish this issue: "
                f"{result.detail}\n\nRun: {deps.config.run_url(run.id)}",
            )
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


class _Run:
    """One run's steps, sharing the ticket, run, dependencies and recorder."""

    def __init__(
        self, ticket: Ticket, run: Run, deps: PipelineDeps, rec: EventRecorder, t0: float
    ) -> None:
        self.ticket, self.run, self.deps, self.rec, self.t0 = ticket, run, deps, rec, t0
        self.cfg = deps.config
        self.followup = run.kind != RunKind.INITIAL
        self.target_labels = {RUN_LABEL: str(run.id), DEPLOYMENT_LABEL: self.cfg.deployment}

    def execute(self, override: str | None) -> RunResult:
        repo = self.deps.github.get_repo(self.ticket.repo)
        start = self.run.branch if self.followup else repo.default_branch
        t0 = time.monotonic()
        with checkout(
            repo.clone_url,
            self.deps.git_token,
            base_branch=start,
            branch=self.run.branch,
            parent=self.cfg.work_dir / "workspaces",
            timeout=self.cfg.git_timeout,
        ) as co:
            self.rec.stage("clone", time.monotonic() - t0)
            compare = co.rev(repo.default_branch)
            # The repository's config is always the default branch's, also for follow-ups
            # that start on the agent's own branch.
            rc = parse_repo_config(co.show(compare, CONFIG_FILE))
            issue = self.deps.github.get_issue(self.ticket.repo, self.ticket.number)
            choice = ticket_choice(issue.labels, issue.body, self.cfg.trigger_label)
            plan = plan_for(self.cfg, rc, override, choice)
            for host in plan.refused_hosts:
                self.rec.sandbox(
                    "allow_host_refused", {"host": host, "reason": "not allowed by the operator"}
                )
            assert self.run.id is not None
            set_run_choice(self.deps.engine, self.run.id, plan.harness.name, plan.options.model)
            return self._after_checkout(co, compare, repo.default_branch, plan)

    def _after_checkout(
        self, co: Checkout, compare: str, default_branch: str, plan: RunPlan
    ) -> RunResult:
        user = sandbox_user()
        co.give_to(co.path, user)
        agent = run_harness(
            self.deps.runtime,
            plan.harness,
            prompt=self._prompt(),
            options=plan.options,
            access=self.cfg.models.access_for(plan.harness),
            target=SandboxTarget(
                image=self.cfg.image,
                policy=plan.policy,
                user=user,
                labels=self.target_labels,
                workspace=co.path,
            ),
            rec=self.rec,
        )
        result = _totals(agent, None, agent.exit.exit_code)
        problem = agent.problem()
        if problem:
            return replace(result, detail=problem)
        with self._stage("commit"):
            sha = co.commit_all(self._commit_message(), self.cfg.author_name, self.cfg.author_email)
        if sha is None:
            self._tell(
                f"{MARKER}\nBurndown ran `{plan.harness.name}` on this issue and it made "
                f"no changes, so there is no pull request. Run: "
                f"{self.cfg.run_url(self.run.id)}"
            )
            return replace(
                result, outcome=OutcomeKind.NO_CHANGES, detail="the agent changed nothing"
            )
        violations = self._check_policy(co, compare, sha, plan.repo)
        if violations:
            return replace(
                result, outcome=OutcomeKind.REFUSED, detail="; ".join(str(v) for v in violations)
            )
        verification = self._verify(co, compare, sha, plan, user)
        review = self._review(co, compare, sha, plan, user)
        result = _totals(agent, review, agent.exit.exit_code)
        draft = not verification.verified or (review is not None and review.doubts)
        assert self.run.id is not None
        mark_run(
            self.deps.engine,
            self.run.id,
            verified=verification.verified,
            draft=draft,
            review_verdict=review.verdict if review else None,
        )
        return self._publish(co, default_branch, agent, verification, review, draft, result)

    def _check_policy(
        self, co: Checkout, compare: str, sha: str, rc: RepoConfig
    ) -> list[Violation]:
        policy = self.cfg.diff_policy.model_copy(
            update={
                "max_files": min(rc.policy.max_files or 10**9, self.cfg.diff_policy.max_files),
                "max_lines": min(rc.policy.max_lines or 10**9, self.cfg.diff_policy.max_lines),
                "forbidden_paths": [
                    *self.cfg.diff_policy.forbidden_paths,
                    *rc.policy.forbidden_paths,
                ],
            }
        )
        found = check_diff(co.diff_stats(compare, sha), co.added_lines(compare, sha), policy)
        self.rec.note("policy", {"violations": [str(v) for v in found]})
        if found:
            rules = "\n".join(f"- {v}" for v in found)
            self._tell(
                f"{MARKER}\nBurndown's agent made a change, but it breaks the repository's "
                f"diff policy, so nothing was pushed:\n\n{rules}\n\nRun: "
                f"{self.cfg.run_url(self.run.id)}"
            )
        return found

    def _verify(
        self, co: Checkout, compare: str, sha: str, plan: RunPlan, user: str
    ) -> Verification:
        commands = detect_commands(co, plan.repo.setup, plan.repo.test)
        with self._stage("verify"):
            v = verify(
                self.deps.runtime,
                co,
                compare,
                sha,
                commands,
                image=self.cfg.image,
                # The tests get no model key and no route to the model: only the hosts the
                # operator and repository allow (none: no network, and no proxy to start).
                policy=plan.policy.model_copy(update={"allow_hosts": plan.tool_hosts}),
                user=user,
                labels=self.target_labels,
                scratch=co.root / "verify",
            )
        for check in (v.base, v.head):
            for e in check.egress if check else []:
                self.rec.sandbox(f"egress_{e.event}", e.model_dump(exclude_none=True))
        self.rec.note(
            "verification",
            {
                "verified": v.verified,
                "reason": v.reason,
                "source": commands.source,
                "commands": commands.test,
                "newly_failing": v.newly_failing,
                "pre_existing": v.pre_existing,
                "base_exit": v.base.exit_code if v.base else None,
                "head_exit": v.head.exit_code if v.head else None,
                "head_tail": v.head.tail if v.head else "",
            },
        )
        return v

    def _review(
        self, co: Checkout, compare: str, sha: str, plan: RunPlan, user: str
    ) -> Review | None:
        enabled = (
            plan.repo.review.enabled if plan.repo.review.enabled is not None else self.cfg.review
        )
        if not enabled:
            return None
        name = plan.repo.review.harness or self.cfg.review_harness or plan.harness.name
        tree = co.export(sha, co.root / "review")
        co.give_to(tree, user)
        reviewer = get_harness(name)
        # The agent's options suit the agent's harness; another reviewer gets only its model.
        options = (
            plan.options
            if name == plan.harness.name
            else HarnessOptions(model=self.cfg.harness_models.get(name))
        )
        with self._stage("review_total"):
            r = review_change(
                self.deps.runtime,
                reviewer,
                title=self.ticket.title,
                body=self.ticket.body,
                diff=co.diff(compare, sha),
                options=options,
                access=self.cfg.models.access_for(reviewer),
                target=SandboxTarget(
                    image=self.cfg.image,
                    policy=plan.policy,
                    user=user,
                    labels=self.target_labels,
                    workspace=tree,
                ),
                rec=self.rec,
            )
        self.rec.note("review", {"verdict": r.verdict, "text": r.text, "harness": name})
        return r

    def _publish(
        self,
        co: Checkout,
        default_branch: str,
        agent: HarnessRun,
        verification: Verification,
        review: Review | None,
        draft: bool,
        result: RunResult,
    ) -> RunResult:
        with self._stage("push"):
            co.push(force=not self.followup)
        facts = RunFacts(
            harness=self.run.harness,
            model=self.run.model,
            seconds=time.monotonic() - self.t0,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cost_usd=result.cost_usd,
            run_url=self.cfg.run_url(self.run.id),
            summary=agent.final_text,
        )
        with self._stage("pull_request"):
            pr, existed = open_or_update(
                self.deps.github,
                self.ticket,
                self.run,
                base=default_branch,
                body=pr_body(self.ticket, facts, verification, review),
                draft=draft,
                label=self.cfg.pr_label,
            )
        state = "a draft pull request" if draft else "a pull request"
        if existed:
            self._tell_pr(
                pr.number,
                f"{MARKER}\nBurndown pushed a new commit to this pull "
                f"request{self._for_whom()}. {verification.markdown()}\n\nRun: "
                f"{facts.run_url}",
            )
            kind = OutcomeKind.PR_UPDATED
        else:
            why = (
                ""
                if not draft
                else (
                    " (a draft: "
                    + (
                        verification.reason
                        if not verification.verified
                        else "the reviewer has doubts"
                    )
                    + ")"
                )
            )
            self._tell(f"{MARKER}\nBurndown opened {state} for this issue: {pr.url}{why}")
            kind = OutcomeKind.PR_DRAFT if draft else OutcomeKind.PR_OPENED
        return replace(
            result, outcome=kind, pr_url=pr.url, pr_number=pr.number, detail=verification.reason
        )

    def _prompt(self) -> str:
        t = self.ticket
        base = (
            f"Resolve this GitHub issue of the repository {t.repo}, whose checkout is the "
            "current directory. Make the change in the working tree; do not commit or push, "
            "the changes are collected for you.\n\n"
            f"Issue #{t.number}: {t.title}\n\n{t.body}"
        )
        if not self.followup:
            return base
        what = (
            "A check failed on your pull request"
            if self.run.kind == RunKind.FIX
            else f"@{self.run.requested_by} asked for changes on your pull request"
        )
        return (
            f"{base}\n\nYou already opened a pull request for this issue; the checkout is "
            f"its branch. {what}:\n\n{self.run.feedback or ''}\n\nAddress it."
        )

    def _commit_message(self) -> str:
        t = self.ticket
        if self.followup:
            return f"Address feedback on #{t.number}\n\n{(self.run.feedback or '')[:500]}"
        return f"{t.title}\n\nCloses #{t.number}.\n\nMade by Burndown."

    def _for_whom(self) -> str:
        if self.run.kind == RunKind.FIX:
            return " to fix a failed check"
        return f" in answer to @{self.run.requested_by}" if self.run.requested_by else ""

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        yield
        self.rec.stage(name, time.monotonic() - t0)

    def _tell(self, body: str) -> None:
        _tell(self.deps, self.ticket, body)

    def _tell_pr(self, number: int, body: str) -> None:
        try:
            self.deps.github.comment(self.ticket.repo, number, body)
        except BurndownError as exc:
            log.warning("could not comment on the pull request", error=str(exc))


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


def _tell(deps: PipelineDeps, ticket: Ticket, body: str) -> None:
    try:
        deps.github.comment(ticket.repo, ticket.number, body)
    except BurndownError as exc:  # the outcome is recorded either way; the comment is a courtesy
        log.warning("could not comment on the issue", error=str(exc))
