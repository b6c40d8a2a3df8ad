"""SQLModel tables. Schema changes go through Alembic (`worker/migrations`)."""

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(index: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=False, index=index)


class TicketStatus(StrEnum):
    NEW = "new"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class OutcomeKind(StrEnum):
    PR_OPENED = "pr_opened"  # a ready pull request: verified
    PR_DRAFT = "pr_draft"  # a draft: not verified, or the reviewer doubts
    PR_UPDATED = "pr_updated"  # a follow-up pushed to an existing pull request
    NO_CHANGES = "no_changes"
    REFUSED = "refused"  # the diff broke a policy rule: nothing pushed
    FAILED = "failed"


class RunKind(StrEnum):
    INITIAL = "initial"  # the first run of a ticket, from its default branch
    FOLLOWUP = "followup"  # feedback from a trusted person on the agent's pull request
    FIX = "fix"  # a failed check on the agent's pull request


class Ticket(SQLModel, table=True):
    """An issue handed to the agent: one row per (provider, repo, number)."""

    __table_args__ = (UniqueConstraint("provider", "repo", "number", name="uq_ticket_issue"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(default="github", max_length=32)
    repo: str = Field(index=True, max_length=255)
    number: int
    title: str = Field(default="", sa_type=Text)
    body: str = Field(default="", sa_type=Text)
    url: str = Field(default="", max_length=1024)
    labeled_by: str | None = Field(default=None, max_length=255)
    status: str = Field(default=TicketStatus.NEW, index=True, max_length=16)
    attempts: int = 0
    # What the next run should do, set when it is queued (follow-ups carry the feedback).
    pending_kind: str = Field(default=RunKind.INITIAL, max_length=16)
    pending_feedback: str | None = Field(default=None, sa_type=Text)
    pending_by: str | None = Field(default=None, max_length=255)
    queued_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    # The issue's own lifecycle, as the lifecycle sync last saw it (None: not seen yet).
    labels: str = Field(default="[]", sa_type=Text)  # JSON list of the issue's label names
    issue_state: str | None = Field(default=None, max_length=16)
    issue_closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    issue_reopened_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Run(SQLModel, table=True):
    """One attempt of one harness at one ticket."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    harness: str = Field(max_length=64)
    model: str | None = Field(default=None, max_length=128)
    branch: str = Field(max_length=255)
    kind: str = Field(default=RunKind.INITIAL, max_length=16)
    feedback: str | None = Field(default=None, sa_type=Text)
    requested_by: str | None = Field(default=None, max_length=255)
    verified: bool | None = None
    draft: bool | None = None
    review_verdict: str | None = Field(default=None, max_length=16)
    status: str = Field(default=RunStatus.RUNNING, index=True, max_length=16)
    started_at: datetime = Field(default_factory=utcnow, sa_column=_ts(index=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    exit_code: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None
    pr_url: str | None = Field(default=None, max_length=1024)
    pr_number: int | None = None
    error: str | None = Field(default=None, sa_type=Text)


class RunEvent(SQLModel, table=True):
    """An event of a run, in order: a harness's unified event (raw kept) or a pipeline stage."""

    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_run_event_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    seq: int
    source: str = Field(max_length=16)  # "harness", "pipeline" or "sandbox"
    kind: str = Field(max_length=32)
    data: str = Field(default="{}", sa_type=Text)  # JSON
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Outcome(SQLModel, table=True):
    """How a run ended, as the report counts it. One per run."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", unique=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    kind: str = Field(index=True, max_length=32)
    detail: str = Field(default="", sa_type=Text)
    pr_url: str | None = Field(default=None, max_length=1024)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class DeliveryStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    REJECTED = "rejected"


class Delivery(SQLModel, table=True):
    """A webhook delivery we act on, kept so that nothing is lost and nothing runs twice."""

    id: str = Field(primary_key=True, max_length=128)  # X-GitHub-Delivery
    event: str = Field(max_length=64)
    action: str | None = Field(default=None, max_length=64)
    payload: str = Field(sa_type=Text)
    # SHA-256 of the signed body: the same body replayed under a new delivery id is refused.
    body_sha256: str | None = Field(default=None, max_length=64, unique=True, index=True)
    status: str = Field(default=DeliveryStatus.RECEIVED, index=True, max_length=16)
    note: str = Field(default="", sa_type=Text)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    processed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class PullState(StrEnum):
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
    state: str = Field(default=PullState.OPEN, index=True, max_length=16)
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

    __table_args__ = (UniqueConstraint("repo", "number", name="uq_closed_issue"),)

    id: int | None = Field(default=None, primary_key=True)
    repo: str = Field(index=True, max_length=255)
    number: int
    closed_at: datetime = Field(sa_column=_ts(index=True))
    labels: str = Field(default="[]", sa_type=Text)  # JSON list of label names


class SyncCursor(SQLModel, table=True):
    """How far the lifecycle sync has read one repository's issues and default branch."""

    repo: str = Field(primary_key=True, max_length=255)
    issues_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    commits_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
