"""Build a store's history row by row with chosen times: tickets, runs with outcomes, pull
request lifecycles and closed issues, so metrics can be checked against known answers."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

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
