"""Budgets above the run: for the whole deployment per day and per month, and for each
repository per day and per month. Spend is what finished runs cost (`Run.cost_usd`, the run's
own figure); a running run counts once it ends, so a deployment can overshoot a budget by at
most what its runs in flight may spend (each bounded by its own cap, `worker.budget`).

When a budget is spent, a ticket due to run waits (stays queued: the reconciler sends it
again later, and it runs once the period turns) or is refused with a comment, by setting.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from worker.store.models import Run, Ticket, TicketStatus, utcnow


class WhenSpent(StrEnum):
    WAIT = "wait"  # the ticket stays queued until the period turns
    REFUSE = "refuse"  # the ticket is closed with a comment


class Budgets(BaseModel):
    """The operator's budgets above the run, USD; None: no budget of that kind."""

    daily_usd: float | None = Field(None, gt=0)
    monthly_usd: float | None = Field(None, gt=0)
    repo_daily_usd: float | None = Field(None, gt=0)
    repo_monthly_usd: float | None = Field(None, gt=0)
    when_spent: WhenSpent = WhenSpent.WAIT

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (self.daily_usd, self.monthly_usd, self.repo_daily_usd, self.repo_monthly_usd)
        )


@dataclass(frozen=True)
class Standing:
    """One budget: what it allows, what is spent of it, when it starts again."""

    name: str
    """`daily`, `monthly`, `repo daily`, `repo monthly`."""
    repo: str | None
    cap_usd: float
    spent_usd: float
    resets_at: datetime

    @property
    def spent(self) -> bool:
        return self.spent_usd >= self.cap_usd

    def describe(self) -> str:
        whose = f" of {self.repo}" if self.repo else ""
        return (
            f"the {self.name} budget{whose} (${self.spent_usd:.2f} of ${self.cap_usd:.2f} spent; "
            f"it starts again at {self.resets_at:%Y-%m-%d %H:%M} UTC)"
        )


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


def spent_since(engine: Engine, since: datetime, repo: str | None = None) -> float:
    """What the runs started since `since` cost (of one repository, or all)."""
    query = select(func.coalesce(func.sum(col(Run.cost_usd)), 0.0)).where(
        col(Run.started_at) >= since
    )
    if repo is not None:
        query = query.join(Ticket, col(Ticket.id) == col(Run.ticket_id)).where(
            col(Ticket.repo) == repo
        )
    with Session(engine) as s:
        return float(s.exec(query).one() or 0.0)


def standings(
    engine: Engine, budgets: Budgets, repo: str | None = None, now: datetime | None = None
) -> list[Standing]:
    """Every budget that applies (the deployment's; and `repo`'s when one is given)."""
    now = now or utcnow()
    day, month = day_start(now), month_start(now)
    tomorrow, later = day + timedelta(days=1), next_month(now)
    wanted: list[tuple[str, str | None, float | None, datetime, datetime]] = [
        ("daily", None, budgets.daily_usd, day, tomorrow),
        ("monthly", None, budgets.monthly_usd, month, later),
    ]
    if repo is not None:
        wanted += [
            ("repo daily", repo, budgets.repo_daily_usd, day, tomorrow),
            ("repo monthly", repo, budgets.repo_monthly_usd, month, later),
        ]
    return [
        Standing(name, whose, cap, spent_since(engine, since, whose), resets)
        for name, whose, cap, since, resets in wanted
        if cap is not None
    ]


def spent_budget(
    engine: Engine, budgets: Budgets, repo: str, now: datetime | None = None
) -> Standing | None:
    """The first budget `repo`'s next run would exceed, or None when it may run."""
    if not budgets.any:
        return None
    return next((s for s in standings(engine, budgets, repo, now) if s.spent), None)


def set_held(engine: Engine, ticket_id: int, reason: str | None) -> None:
    """Note why a queued ticket waits (None: it no longer does)."""
    with Session(engine) as s:
        ticket = s.get(Ticket, ticket_id)
        if ticket is not None and ticket.held_reason != reason:
            ticket.held_reason = reason
            s.add(ticket)
            s.commit()


def record_gateway_spend(engine: Engine, run_id: int, usd: float | None) -> None:
    """Keep what the gateway recorded for the run's key beside Burndown's own figure."""
    with Session(engine) as s:
        run = s.get(Run, run_id)
        if run is not None:
            run.gateway_cost_usd = usd
            s.add(run)
            s.commit()


def all_standings(engine: Engine, budgets: Budgets, now: datetime | None = None) -> list[Standing]:
    """The deployment's budgets, then each repository's (every repository with tickets)."""
    now = now or utcnow()
    out = standings(engine, budgets, None, now)
    if budgets.repo_daily_usd is None and budgets.repo_monthly_usd is None:
        return out
    with Session(engine) as s:
        repos = sorted(set(s.exec(select(Ticket.repo)).all()))
    for repo in repos:
        out += [x for x in standings(engine, budgets, repo, now) if x.repo is not None]
    return out


@dataclass(frozen=True)
class Held:
    """A queued ticket waiting for a spent budget."""

    ticket_id: int
    repo: str
    number: int
    reason: str


def held_tickets(engine: Engine) -> list[Held]:
    """The queued tickets a spent budget holds."""
    with Session(engine) as s:
        rows = s.exec(
            select(Ticket).where(
                col(Ticket.held_reason).is_not(None), col(Ticket.status) == TicketStatus.QUEUED
            )
        ).all()
        return [Held(t.id or 0, t.repo, t.number, t.held_reason or "") for t in rows]


def standing_json(x: Standing) -> dict[str, object]:
    return {
        "budget": x.name,
        "repo": x.repo,
        "cap_usd": x.cap_usd,
        "spent_usd": round(x.spent_usd, 6),
        "spent": x.spent,
        "resets_at": x.resets_at.isoformat(),
    }
