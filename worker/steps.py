"""The steps after the agent: diff policy, verification, review, publishing.

Each step reads the run's context (`RunContext`) and the agent's committed change (`Change`)
and performs what the plan decided; none of them decides policy itself.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from sandbox.errors import BurndownError
from sandbox.harness.protocol import Harness, HarnessOptions, ModelAccess
from sandbox.harness.run import HarnessJob, HarnessRun
from sandbox.runtime import SandboxPolicy
from worker import texts
from worker.budget import BudgetWatch
from worker.diff_policy import Violation, check_change
from worker.errors import GitError
from worker.events import EventRecorder
from worker.gateway_keys import KeyUse
from worker.git import Checkout
from worker.liveness import Deadline, RunGuard
from worker.logs import get_logger
from worker.pipeline_config import PipelineDeps
from worker.publish import open_or_update, withhold_secrets
from worker.review import Review, review_change
from worker.run_plan import RunPlan
from worker.store.models import OutcomeKind, PipelineEventKind, Run, Ticket
from worker.store.repo import RunResult
from worker.verify import Verification, detect_commands, verify

log = get_logger(__name__)


@dataclass(frozen=True)
class RunContext:
    """One run: its ticket and row, the external systems, the recorder, when it started."""

    ticket: Ticket
    run: Run
    deps: PipelineDeps
    rec: EventRecorder
    t0: float
    labels: dict[str, str]
    """The labels of every sandbox resource of this run (run id, deployment)."""
    deadline: Deadline
    """When the whole run must be over; every step draws its time from what is left."""
    guard: RunGuard
    budget: BudgetWatch
    """The run's dollar cap and turn limit, watched on every event."""
    key: KeyUse | None = None
    """The gateway key made for this run alone, when a gateway makes keys."""

    def access_for(self, harness: Harness) -> ModelAccess:
        """The endpoint and key `harness` gets: the run's own gateway key when it has one."""
        access = self.deps.config.models.access_for(harness)
        if self.key is not None and access.gateway:
            return access.model_copy(update={"api_key": self.key.key.key})
        return access

    @property
    def run_url(self) -> str:
        return self.deps.config.run_url(self.run.id)

    def job(
        self,
        plan: RunPlan,
        user: str,
        workspace: Path,
        *,
        share: float = 1.0,
        harness: Harness | None = None,
        options: HarnessOptions | None = None,
        image: str | None = None,
        warm: bool = False,
    ) -> HarnessJob:
        """A harness (the plan's, unless given) on `workspace` under this run's image, labels
        and plan, its time limit at most `share` of the run's time left, its model access the
        run's own (its gateway key, when it has one)."""
        chosen = harness or plan.harness
        return HarnessJob(
            harness=chosen,
            prompt=texts.task_prompt(self.ticket, self.run),
            image=image or self.deps.config.image,
            workspace=workspace,
            policy=self.policy(plan, share),
            options=options or plan.options,
            models=self.access_for(chosen),
            run_id=str(self.run.id),
            deployment=self.deps.config.deployment,
            user=user,
            warm=warm,
        )

    def policy(self, plan: RunPlan, share: float = 1.0) -> SandboxPolicy:
        """The plan's sandbox policy with its time limit drawn from the run's deadline."""
        limit = self.deadline.cap(plan.policy.timeout_seconds, share)
        return plan.policy.model_copy(update={"timeout_seconds": limit})

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        yield
        self.rec.stage(name, time.monotonic() - t0)

    def secret_in(self, what: str, text: str) -> str | None:
        """Why nothing goes out when `text` holds a secret (said without quoting it)."""
        found = self.deps.config.secrets.first(text)
        if found is None:
            return None
        why = f"{what} holds a secret ({found.what}), so nothing was pushed or posted"
        self.rec.note(PipelineEventKind.SECRET_WITHHELD, {"what": what, "finding": found.what})
        self.tell(texts.withheld(why, self.run_url))
        return why

    def tell(self, body: str) -> None:
        """The run's one comment on the issue (written once, however often this is retried);
        the outcome is recorded either way, the comment is a courtesy."""
        tell(self.deps, self.ticket, body, key=f"run-{self.run.id}")

    def status(self, body: str, *, final: bool = False) -> None:
        """Update the ticket's live status (one comment per ticket, edited in place; or the
        Linear agent session's activities). Best effort: never fatal."""
        try:
            self.deps.tracker(self.ticket).status(self.ticket, body, final=final)
        except BurndownError as exc:
            log.warning("live status not written", error=str(exc))

    def tell_pr(self, number: int, body: str) -> None:
        try:
            safe = withhold_secrets(self.deps.config.secrets, body)
            self.deps.github.comment(self.ticket.repo, number, safe, key=f"run-{self.run.id}")
        except BurndownError as exc:
            log.warning("could not comment on the pull request", error=str(exc))


@dataclass(frozen=True)
class Change:
    """The agent's change as the host committed it: what every later step reads."""

    co: Checkout
    base: str
    """The default branch's commit the change is compared with."""
    sha: str
    plan: RunPlan
    user: str
    """The sandbox user that owns the trees the sandboxes see."""
    image: str | None = None
    """The image the sandboxes start from (the environment's); None: the operator's."""
    setup_done: bool = False
    """The repository's setup is in `image`: verification does not run it again."""


def check_policy(ctx: RunContext, ch: Change) -> list[Violation]:
    """The plan's diff policy on the change; the issue hears of every violation."""
    found = check_change(ch.co, ch.base, ch.sha, ch.plan.diff_policy, ctx.deps.config.secrets)
    ctx.rec.note(PipelineEventKind.POLICY, {"violations": [str(v) for v in found]})
    if found:
        ctx.tell(texts.policy_refused(found, ctx.run_url))
    return found


def verify_change(ctx: RunContext, ch: Change) -> Verification:
    """The repository's tests on the base commit and on the change, in fresh sandboxes."""
    commands = detect_commands(ch.co, ch.plan.repo.setup, ch.plan.repo.test)
    if ch.setup_done:
        commands = replace(commands, setup=[])
    with ctx.stage("verify"):
        v = verify(
            ctx.deps.runtime,
            ch.co,
            ch.base,
            ch.sha,
            commands,
            image=ch.image or ctx.deps.config.image,
            # The tests get no model key and no route to the model: only the hosts the
            # operator and repository allow (none: no network, and no proxy to start).
            # Base and change share what is left of the run's time, half each at most.
            policy=ctx.policy(ch.plan, share=0.5).model_copy(
                update={"allow_hosts": ch.plan.tool_hosts}
            ),
            user=ch.user,
            labels=ctx.labels,
            scratch=ch.co.root / "verify",
        )
    for check in (v.base, v.head):
        for e in check.egress if check else []:
            ctx.rec.sandbox(f"egress_{e.event}", e.model_dump(exclude_none=True))
    ctx.rec.note(
        PipelineEventKind.VERIFICATION,
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


def review_step(ctx: RunContext, ch: Change) -> Review | None:
    """The plan's reviewer on the change, in a read-only sandbox; None without one."""
    reviewer = ch.plan.reviewer
    if reviewer is None:
        return None
    tree = ch.co.export(ch.sha, ch.co.root / "review")
    ch.co.give_to(tree, ch.user)
    with ctx.stage("review_total"):
        job = ctx.job(
            ch.plan,
            ch.user,
            tree,
            harness=reviewer.harness,
            options=reviewer.options,
            image=ch.image,
        )
        r = review_change(
            ctx.deps.runtime,
            job,
            title=ctx.ticket.title,
            body=ctx.ticket.body,
            diff=ch.co.diff(ch.base, ch.sha),
            rec=ctx.rec,
        )
    ctx.rec.note(
        PipelineEventKind.REVIEW,
        {"verdict": r.verdict, "text": r.text, "harness": reviewer.harness.name},
    )
    return r


@dataclass(frozen=True)
class Checked:
    """What the host learnt of the change before publishing it."""

    agent: HarnessRun
    verification: Verification
    review: Review | None

    @property
    def draft(self) -> bool:
        return not self.verification.verified or (self.review is not None and self.review.doubts)

    @property
    def draft_reason(self) -> str | None:
        if not self.draft:
            return None
        if not self.verification.verified:
            return self.verification.reason
        return "the reviewer has doubts"


def publish(
    ctx: RunContext, ch: Change, default_branch: str, checked: Checked, result: RunResult
) -> RunResult:
    """Push the branch and open (or update) the ticket's one pull request; tell the issue."""
    facts = texts.RunFacts(
        harness=ctx.run.harness,
        model=ctx.run.model,
        seconds=time.monotonic() - ctx.t0,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        cost_usd=result.cost_usd,
        run_url=ctx.run_url,
        summary=checked.agent.final_text,
    )
    body = texts.pr_body(ctx.ticket, facts, checked.verification, checked.review)
    if secret := ctx.secret_in("the pull request's text", texts.pr_title(ctx.ticket) + body):
        return replace(result, outcome=OutcomeKind.REFUSED, detail=secret)
    with ctx.stage("push"):
        try:
            ch.co.push()
        except GitError as exc:
            raise GitError(texts.push_refused(ch.co.branch)) from exc
    with ctx.stage("pull_request"):
        pr, existed = open_or_update(
            ctx.deps.github,
            ctx.ticket,
            ctx.run,
            base=default_branch,
            body=body,
            draft=checked.draft,
            label=ctx.deps.config.trigger_label,
        )
    if existed:
        ctx.tell_pr(pr.number, texts.pr_updated(ctx.run, checked.verification, ctx.run_url))
        kind = OutcomeKind.PR_UPDATED
    else:
        ctx.tell(texts.pr_opened(pr.url, checked.draft_reason))
        kind = OutcomeKind.PR_DRAFT if checked.draft else OutcomeKind.PR_OPENED
    attach_pull(ctx, pr.url, texts.pr_title(ctx.ticket))
    return replace(
        result,
        outcome=kind,
        pr_url=pr.url,
        pr_number=pr.number,
        detail=checked.verification.reason,
    )


def tell(deps: PipelineDeps, ticket: Ticket, body: str, key: str | None = None) -> None:
    """Comment on the ticket's issue (GitHub's or Linear's), logging (not raising) when the
    tracker refuses."""
    try:
        safe = withhold_secrets(deps.config.secrets, body)
        deps.tracker(ticket).comment(ticket, safe, key=key)
    except BurndownError as exc:  # the outcome is recorded either way; the comment is a courtesy
        log.warning("could not comment on the issue", error=str(exc))


def attach_pull(ctx: RunContext, url: str, title: str) -> None:
    """Link the pull request to the ticket's issue (Linear: an attachment); a courtesy."""
    try:
        ctx.deps.tracker(ctx.ticket).attach_pull(ctx.ticket, url, title)
    except BurndownError as exc:
        log.warning("could not attach the pull request to the issue", error=str(exc))
