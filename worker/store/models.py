"""SQLModel tables. Schema changes go through Alembic (`worker/migrations`)."""

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from worker.store.enum_column import EnumColumn


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(index: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=False, index=index)


class Provider(StrEnum):
    """Where a ticket's issue lives."""

    GITHUB = "github"
    LINEAR = "linear"  # a Linear issue; its pull request goes to the mapped GitHub repository


def _ts_opt(index: bool = False) -> Column[datetime | None]:
    return Column(DateTime(timezone=True), nullable=True, index=index)


class TicketStatus(StrEnum):
    """Where a ticket stands; `queued` and `running` are claimed by one atomic update."""

    NEW = "new"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped by a person before or while it ran
    DEAD = "dead"  # its runs kept dying (dead letter): retried only by hand


class RunStatus(StrEnum):
    """Whether a run is still open, and how it ended."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CancelRequest(StrEnum):
    """Why a running run is asked to stop (read by its heartbeat)."""

    CANCEL = "cancel"  # a person asked: the outcome is `cancelled`
    REQUEUE = "requeue"  # its worker is shutting down: the ticket is queued again


class OutcomeKind(StrEnum):
    """How a run ended, as the report counts it."""

    PR_OPENED = "pr_opened"  # a ready pull request: verified
    PR_DRAFT = "pr_draft"  # a draft: not verified, or the reviewer doubts
    PR_UPDATED = "pr_updated"  # a follow-up pushed to an existing pull request
    NO_CHANGES = "no_changes"
    REFUSED = "refused"  # the diff broke a policy rule: nothing pushed
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped by a person (label removed, issue closed, /burndown stop)
    BUDGET = "budget"  # stopped at its dollar cap or turn limit


class RunKind(StrEnum):
    """What a run does for its ticket."""

    INITIAL = "initial"  # the first run of a ticket, from its default branch
    FOLLOWUP = "followup"  # feedback from a trusted person on the agent's pull request
    FIX = "fix"  # a failed check on the agent's pull request


class ReviewVerdict(StrEnum):
    """The reviewer's verdict on a change."""

    APPROVE = "approve"
    DOUBT = "doubt"  # the reviewer asked for changes
    UNKNOWN = "unknown"  # the reviewer gave no verdict or did not finish


class IssueState(StrEnum):
    """An issue's state as GitHub reports it."""

    OPEN = "open"
    CLOSED = "closed"


class EventSource(StrEnum):
    """Who wrote a run event. Its kind is the harness's `EventKind` for harness and review
    events, a `PipelineEventKind` for pipeline events, and free for sandbox events."""

    HARNESS = "harness"  # the agent's harness
    REVIEW = "review"  # the reviewer's harness
    PIPELINE = "pipeline"
    SANDBOX = "sandbox"  # the sandbox did or refused something (egress)


class PipelineEventKind(StrEnum):
    """The kinds of events the pipeline itself records."""

    STAGE = "stage"  # a stage of the run ended; data: stage, seconds
    POLICY = "policy"
    VERIFICATION = "verification"
    REVIEW = "review"
    SECRET_WITHHELD = "secret_withheld"  # a text going out held a secret: nothing went out
    SPEND = "spend"  # what the run spent, by Burndown's count and the gateway's
    BUDGET = "budget"  # the run crossed its dollar cap or turn limit: it was stopped
    HIDDEN_TEXT = "hidden_text_removed"  # text a reader cannot see was cut from the task
    RATE_LIMITED = "rate_limited"  # a GitHub or Linear call waited; data: seconds, why


class Ticket(SQLModel, table=True):
    """An issue handed to the agent: one row per (provider, repo, number)."""

    __table_args__ = (
        UniqueConstraint("provider", "repo", "number", "tracker_key", name="uq_ticket_issue"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: Provider = Field(default=Provider.GITHUB, sa_type=EnumColumn(Provider, 32))
    repo: str = Field(index=True, max_length=255)
    """The GitHub repository the work goes to (for a Linear ticket: the mapped one)."""
    number: int
    """The issue's number (for a Linear ticket: its number within its team)."""
    tracker_id: str | None = Field(default=None, index=True, max_length=64)
    """The tracker's own id of the issue (Linear's UUID); None for GitHub issues."""
    tracker_key: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    """The issue's key in its tracker (Linear: ENG-123); empty for GitHub issues."""
    agent_session_id: str | None = Field(default=None, index=True, max_length=64)
    """The Linear agent session the ticket answers to (a delegation), if any."""
    title: str = Field(default="", sa_type=Text)
    body: str = Field(default="", sa_type=Text)
    url: str = Field(default="", max_length=1024)
    labeled_by: str | None = Field(default=None, max_length=255)
    status: TicketStatus = Field(
        default=TicketStatus.NEW, index=True, sa_type=EnumColumn(TicketStatus, 16)
    )
    attempts: int = 0
    # What the next run should do, set when it is queued (follow-ups carry the feedback).
    pending_kind: RunKind = Field(default=RunKind.INITIAL, sa_type=EnumColumn(RunKind, 16))
    pending_feedback: str | None = Field(default=None, sa_type=Text)
    pending_by: str | None = Field(default=None, max_length=255)
    queued_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # The reconciler's re-sends of a queued ticket no worker has claimed yet, with backoff.
    sends: int = 0
    next_send_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    dead_reason: str | None = Field(default=None, sa_type=Text)
    held_reason: str | None = Field(default=None, sa_type=Text)
    """Why a queued ticket waits (a spent budget); None when it may run."""
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    # The issue's own lifecycle, as the lifecycle sync last saw it (None: not seen yet).
    labels: str = Field(default="[]", sa_type=Text)  # JSON list of the issue's label names
    issue_state: IssueState | None = Field(default=None, sa_type=EnumColumn(IssueState, 16))
    issue_closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    issue_reopened_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Run(SQLModel, table=True):
    """One attempt of one harness at one ticket."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    harness: str = Field(max_length=64)
    model: str | None = Field(default=None, max_length=128)
    branch: str = Field(max_length=255)
    kind: RunKind = Field(default=RunKind.INITIAL, sa_type=EnumColumn(RunKind, 16))
    feedback: str | None = Field(default=None, sa_type=Text)
    requested_by: str | None = Field(default=None, max_length=255)
    verified: bool | None = None
    draft: bool | None = None
    review_verdict: ReviewVerdict | None = Field(
        default=None, sa_type=EnumColumn(ReviewVerdict, 16)
    )
    status: RunStatus = Field(
        default=RunStatus.RUNNING, index=True, sa_type=EnumColumn(RunStatus, 16)
    )
    started_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    exit_code: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None
    gateway_cost_usd: float | None = None
    """What the gateway recorded for the run's own key (beside Burndown's `cost_usd`)."""
    pr_url: str | None = Field(default=None, max_length=1024)
    pr_number: int | None = Field(default=None, index=True)
    error: str | None = Field(default=None, sa_type=Text)
    # Liveness: the run must end by its deadline; its worker proves it is alive by beating.
    deadline_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    heartbeat_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    worker: str | None = Field(default=None, max_length=255)
    cancel_requested: CancelRequest | None = Field(
        default=None, sa_type=EnumColumn(CancelRequest, 16)
    )
    cancel_reason: str | None = Field(default=None, sa_type=Text)


class RunEvent(SQLModel, table=True):
    """An event of a run, in order: a harness's unified event (raw kept) or a pipeline stage."""

    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_run_event_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    seq: int
    source: EventSource = Field(sa_type=EnumColumn(EventSource, 16))
    kind: str = Field(max_length=32)  # open: see `EventSource`
    data: str = Field(default="{}", sa_type=Text)  # JSON
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Outcome(SQLModel, table=True):
    """How a run ended, as the report counts it. One per run."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", unique=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    kind: OutcomeKind = Field(index=True, sa_type=EnumColumn(OutcomeKind, 32))
    detail: str = Field(default="", sa_type=Text)
    pr_url: str | None = Field(default=None, max_length=1024)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class DeliveryStatus(StrEnum):
    """Where a webhook delivery stands: received, then processed, ignored or rejected."""

    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    REJECTED = "rejected"
    DEAD = "dead"  # handling kept failing (dead letter): retried only by hand


class Delivery(SQLModel, table=True):
    """A webhook delivery we act on, kept so that nothing is lost and nothing runs twice."""

    id: str = Field(primary_key=True, max_length=128)  # X-GitHub-Delivery
    event: str = Field(max_length=64)
    action: str | None = Field(default=None, max_length=64)
    payload: str = Field(sa_type=Text)
    # SHA-256 of the signed body: the same body replayed under a new delivery id is refused.
    body_sha256: str | None = Field(default=None, max_length=64, unique=True, index=True)
    status: DeliveryStatus = Field(
        default=DeliveryStatus.RECEIVED, index=True, sa_type=EnumColumn(DeliveryStatus, 16)
    )
    note: str = Field(default="", sa_type=Text)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    # Sends to the intake queue; the reconciler re-sends with backoff, then gives up (dead).
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    processed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class PullState(StrEnum):
    """What became of an agent pull request."""

    OPEN = "open"
    CLOSED = "closed"  # closed without merging
    MERGED = "merged"


class AgentPull(SQLModel, table=True):
    """The lifecycle of one pull request an agent run opened, from webhooks and the sync.

    Runs name their pull request by number (`Run.pr_number`); this row says what became of it.
    """

    __table_args__ = (UniqueConstraint("repo", "number", name="uq_agent_pull"),)

    id: int | None = Field(default=None, primary_key=True)
    repo: str = Field(index=True, max_length=255)
    number: int
    state: PullState = Field(default=PullState.OPEN, index=True, sa_type=EnumColumn(PullState, 16))
    opened_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    merged_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    merge_commit_sha: str | None = Field(default=None, max_length=64)
    head_sha: str | None = Field(default=None, max_length=64)
    reopened_count: int = 0
    reverted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revert_sha: str | None = Field(default=None, max_length=64)
    # GitHub's `updated_at` of the observation applied last: older ones are ignored.
    observed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ClosedIssue(SQLModel, table=True):
    """An issue (not a pull request) of a tracked repository that is closed, whoever closed it:
    the denominator of backlog coverage. Kept by the lifecycle sync; removed when reopened."""

    __table_args__ = (UniqueConstraint("repo", "number", "tracker_key", name="uq_closed_issue"),)

    id: int | None = Field(default=None, primary_key=True)
    repo: str = Field(index=True, max_length=255)
    number: int
    tracker_key: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    """A Linear issue's key (ENG-123), counted for its mapped repository; empty for GitHub."""
    closed_at: datetime = Field(sa_column=_ts(index=True))
    labels: str = Field(default="[]", sa_type=Text)  # JSON list of label names


class SyncCursor(SQLModel, table=True):
    """How far the lifecycle sync has read one repository's issues and default branch."""

    repo: str = Field(primary_key=True, max_length=255)
    issues_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    commits_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class PullRollup(SQLModel, table=True):
    """One agent pull request as the report counts it, kept up to date by every write that
    changes it (`worker.store.rollup`): its ticket, when it opened, the run it is attributed
    to and what became of it. Derived from `Run` and `AgentPull`; never edited by hand."""

    __table_args__ = (UniqueConstraint("repo", "number", name="uq_pull_rollup"),)

    id: int | None = Field(default=None, primary_key=True)
    repo: str = Field(max_length=255)
    number: int
    ticket_id: int = Field(foreign_key="ticket.id", index=True)  # the ticket of the first run
    opened_at: datetime = Field(sa_column=_ts(index=True))  # the first run finished
    first_started_at: datetime = Field(sa_column=_ts())  # the first run's start, then its id
    first_run_id: int
    run_id: int  # the attributed run: the last that started before the merge
    harness: str = Field(max_length=64)
    model: str | None = Field(default=None, max_length=128)
    state: str = Field(max_length=16)  # open, closed, merged, reverted
    merged_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    reopened_count: int = 0
    to_pr_us: int = Field(sa_type=BigInteger)  # opened - the ticket's labelling
    to_merge_us: int | None = Field(default=None, sa_type=BigInteger)  # merged - opened, if kept


class TicketRollup(SQLModel, table=True):
    """What the report needs of a ticket's runs and pull requests, kept up to date with them
    (`worker.store.rollup`): the (harness, model) pairs that ran it, its pull requests'
    attributions, and its resolution (the earliest kept merge)."""

    ticket_id: int = Field(foreign_key="ticket.id", primary_key=True)
    pairs: str = Field(default="", sa_type=Text)  # "harness<US>model" items, sorted, RS-joined
    harnesses: str = Field(default="", sa_type=Text)  # harness names, sorted, RS-joined
    pulls: str = Field(default="", sa_type=Text)  # "harness<US>model<US>kept(0/1)" items
    resolved_by: str | None = Field(default=None, max_length=255)  # "harness<US>model"
    resolved_at: datetime | None = Field(default=None, sa_column=_ts_opt(index=True))


class PollCursor(SQLModel, table=True):
    """Where polling a source (a repository's issues, its comments) stopped: the ETag of its
    last answer (a 304 costs no rate limit) and the newest change already seen."""

    __tablename__ = "poll_cursor"

    source: str = Field(primary_key=True, max_length=255)  # e.g. github-issues:acme/widgets
    etag: str | None = Field(default=None, max_length=255)
    seen_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    polled_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


# The report's weekly sums are tables of their own, registered with the same metadata.
from worker.store.report_tables import ReportDirty, ReportVersion, ReportWeek  # noqa: E402

__all__ = ["ReportDirty", "ReportVersion", "ReportWeek"]
