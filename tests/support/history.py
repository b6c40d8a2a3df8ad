"""Build a store's history row by row with chosen times: tickets, runs with outcomes, pull
request lifecycles and closed issues, so metrics can be checked against known answers; and
random histories (`build_random`) for checking the database's sums against the reference.
Rows go straight into the store, so the builder refreshes the rollups as the store's own
writes do."""

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from worker.errors import StoreError
from worker.store.db import session_scope
from worker.store.models import (
    AgentPull,
    ClosedIssue,
    Outcome,
    OutcomeKind,
    PullState,
    Run,
    RunStatus,
    Ticket,
    TicketStatus,
)
from worker.store.rollup import refresh_pull, refresh_run


@dataclass
class HistoryBuilder:
    """Writes rows straight into a migrated store."""

    engine: Engine

    def ticket(
        self,
        repo: str,
        number: int,
        created_at: datetime,
        *,
        labels: Sequence[str] = (),
        issue_state: str | None = None,
        issue_closed_at: datetime | None = None,
        issue_reopened_at: datetime | None = None,
    ) -> int:
        with session_scope(self.engine) as s:
            t = Ticket(
                repo=repo,
                number=number,
                title=f"Issue {number}",
                url=f"https://github.test/{repo}/issues/{number}",
                labeled_by="maria",
                status=TicketStatus.DONE,
                created_at=created_at,
                updated_at=created_at,
                queued_at=created_at,
                labels=json.dumps(list(labels)),
                issue_state=issue_state,
                issue_closed_at=issue_closed_at,
                issue_reopened_at=issue_reopened_at,
            )
            s.add(t)
            s.flush()
            assert t.id is not None
            return t.id

    def run(
        self,
        ticket_id: int,
        started_at: datetime,
        *,
        harness: str = "claude-code",
        model: str | None = "sonnet",
        minutes: float = 10,
        outcome: OutcomeKind = OutcomeKind.PR_OPENED,
        repo: str = "",
        pr_number: int | None = None,
        input_tokens: int | None = 1000,
        output_tokens: int | None = 100,
        cost_usd: float | None = 1.0,
    ) -> int:
        """A finished run with its outcome; `pr_number` (with `repo`) links its pull request."""
        failed = outcome == OutcomeKind.FAILED
        url = f"https://github.test/{repo}/pull/{pr_number}" if pr_number else None
        with session_scope(self.engine) as s:
            r = Run(
                ticket_id=ticket_id,
                harness=harness,
                model=model,
                branch="burndown/issue-x",
                status=RunStatus.FAILED if failed else RunStatus.SUCCEEDED,
                started_at=started_at,
                finished_at=started_at + timedelta(minutes=minutes),
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost_usd=cost_usd,
                pr_url=url,
                pr_number=pr_number,
                error="failed" if failed else None,
            )
            s.add(r)
            s.flush()
            assert r.id is not None
            s.add(
                Outcome(
                    run_id=r.id,
                    ticket_id=ticket_id,
                    kind=outcome,
                    pr_url=url,
                    created_at=started_at + timedelta(minutes=minutes),
                )
            )
            refresh_run(s, r)  # as `finish_run` does
            return r.id

    def pull(
        self,
        repo: str,
        number: int,
        state: PullState,
        *,
        opened_at: datetime | None = None,
        closed_at: datetime | None = None,
        merged_at: datetime | None = None,
        reopened: int = 0,
        reverted_at: datetime | None = None,
        merge_commit_sha: str | None = None,
    ) -> int:
        with session_scope(self.engine) as s:
            p = AgentPull(
                repo=repo,
                number=number,
                state=state,
                opened_at=opened_at,
                closed_at=closed_at or merged_at,
                merged_at=merged_at,
                reopened_count=reopened,
                reverted_at=reverted_at,
                revert_sha="f" * 40 if reverted_at else None,
                merge_commit_sha=merge_commit_sha,
                observed_at=closed_at or merged_at or opened_at,
            )
            s.add(p)
            s.flush()
            refresh_pull(s, repo, number)  # as `observe_pull` does
            assert p.id is not None
            return p.id

    def closed_issue(
        self, repo: str, number: int, closed_at: datetime, labels: Sequence[str] = ()
    ) -> None:
        with session_scope(self.engine) as s:
            s.add(
                ClosedIssue(
                    repo=repo, number=number, closed_at=closed_at, labels=json.dumps(list(labels))
                )
            )


# --- random histories ------------------------------------------------------------------

REPOS = ("acme/app", "acme/lib", "acme/web")
HARNESSES = (("claude-code", "sonnet"), ("codex", "gpt"), ("codex", None), ("aider", ""))
LABELS = ("bug", "docs", "enhancement")
START = datetime(2030, 3, 4, tzinfo=UTC)
NOW = START + timedelta(days=70)


def random_moment(rnd: random.Random, days: float = 56) -> datetime:
    """A moment within `days` of START, to the microsecond."""
    return START + timedelta(
        minutes=rnd.randrange(int(days * 24 * 60)), microseconds=rnd.randrange(10**6)
    )


def build_random(engine: Engine, seed: int, tickets: int = 40) -> None:
    """Tickets, runs by several harnesses, pull requests merged, closed, reopened and
    reverted, issues reopened before and after merges, and issues closed by people."""
    rnd = random.Random(seed)
    h = HistoryBuilder(engine)
    base = seed * 10_000  # several histories can share a store
    for n in range(base + 1, base + tickets + 1):
        repo, created = rnd.choice(REPOS), random_moment(rnd)
        labels = rnd.sample(LABELS, rnd.randrange(0, 3))
        reopen = rnd.random() < 0.25
        tid = h.ticket(
            repo,
            n,
            created,
            labels=labels,
            issue_state="open" if reopen else rnd.choice(("closed", None)),
            issue_reopened_at=created + timedelta(hours=rnd.randrange(1, 200)) if reopen else None,
        )
        pr = 5000 + n if rnd.random() < 0.7 else None
        life_first = pr is not None and rnd.random() < 0.3
        merged_at = created + timedelta(hours=rnd.randrange(1, 150))
        if life_first:
            _pull(h, rnd, repo, pr, merged_at)  # type: ignore[arg-type]
        for k in range(rnd.choice((0, 1, 1, 2, 3))):
            harness, model = rnd.choice(HARNESSES)
            names_pr = pr is not None and rnd.random() < 0.8
            h.run(
                tid,
                created + timedelta(minutes=5 + 60 * k + rnd.randrange(60 * 24)),
                harness=harness,
                model=model,
                minutes=rnd.randrange(1, 90),
                outcome=OutcomeKind.PR_OPENED
                if names_pr
                else rnd.choice((OutcomeKind.FAILED, OutcomeKind.NO_CHANGES)),
                repo=repo,
                pr_number=pr if names_pr else None,
                input_tokens=rnd.choice((None, rnd.randrange(1, 10_000))),
                output_tokens=rnd.choice((None, rnd.randrange(1, 1_000))),
                cost_usd=rnd.choice((None, round(rnd.uniform(0.01, 3), 4))),
            )
        if pr is not None and not life_first and rnd.random() < 0.8:
            _pull(h, rnd, repo, pr, merged_at)
    for n in range(tickets // 2):
        repo = rnd.choice(REPOS)
        number = rnd.choice((base + rnd.randrange(1, tickets + 1), base + 9000 + n))
        labels = rnd.sample(LABELS, rnd.randrange(0, 3))
        try:
            h.closed_issue(repo, number, random_moment(rnd, 63), labels)
        except StoreError:  # the same issue drawn twice: one close is enough
            continue


def _pull(h: HistoryBuilder, rnd: random.Random, repo: str, pr: int, merged_at: datetime) -> None:
    fate = rnd.choice(("open", "closed", "merged", "merged", "reverted"))
    state = PullState.MERGED if fate in ("merged", "reverted") else PullState(fate)
    h.pull(
        repo,
        pr,
        state,
        closed_at=merged_at if state != PullState.OPEN else None,
        merged_at=merged_at if state == PullState.MERGED else None,
        reopened=rnd.choice((0, 0, 1, 2)),
        reverted_at=merged_at + timedelta(days=1) if fate == "reverted" else None,
    )
