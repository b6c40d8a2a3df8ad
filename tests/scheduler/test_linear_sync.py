"""The Linear sync with the fake client: closed issues of the mapped teams join the coverage's
denominator under the repository each maps to (beside, never over, the GitHub issue of the
same number), a reopened one leaves it, and a Linear ticket's issue state follows."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import select

from scheduler.jobs.linear_sync import sync_linear
from scheduler.report.attribution import Period
from scheduler.report.fromstore import store_metrics
from worker.linear.fake import FakeLinear
from worker.linear.protocol import LinearIssue, LinearTeam
from worker.store.db import session_scope
from worker.store.lifecycle import IssueObservation, observe_issue
from worker.store.models import ClosedIssue, IssueState, Provider
from worker.store.trackers import find_tracker_ticket, upsert_tracker_ticket

REPO = "acme/widgets"
NOW = datetime.now(UTC).replace(microsecond=0)  # tickets are created at the real now


def _issue(n: int, team: str, state: str, closed: datetime | None = None) -> LinearIssue:
    return LinearIssue(
        id=f"i-{team}-{n}",
        identifier=f"{team}-{n}",
        number=n,
        title=f"issue {n}",
        url=f"https://linear.app/acme/issue/{team}-{n}",
        team=LinearTeam(id=f"t-{team}", key=team),
        state_type=state,
        labels=["bug"],
        updated_at=NOW - timedelta(hours=1),
        completed_at=closed,
    )


def _closed(engine: Engine) -> list[tuple[str, int, str]]:
    with session_scope(engine) as s:
        rows = s.exec(select(ClosedIssue)).all()
        return sorted((r.repo, r.number, r.tracker_key) for r in rows)


def _sync(engine: Engine, fake: FakeLinear, mapping: dict[str, str], now: datetime) -> None:
    counts = sync_linear(
        engine, fake, mapping, now=now, lookback=timedelta(days=30), overlap=timedelta(hours=1)
    )
    assert counts.errors == []


def test_closed_linear_issues_count_for_their_repository(sqlite_engine: Engine) -> None:
    done = NOW - timedelta(hours=2)
    fake = FakeLinear()
    for issue in (
        _issue(2, "ENG", "completed", done),
        _issue(3, "ENG", "started"),
        _issue(2, "OPS", "completed", done),  # a team nothing maps
    ):
        fake.issues[issue.id] = issue
    upsert_tracker_ticket(
        sqlite_engine,
        Provider.LINEAR,
        tracker_id="i-ENG-2",
        tracker_key="ENG-2",
        repo=REPO,
        number=2,
        title="issue 2",
        body="",
        url="u",
        labeled_by="u-maria",
    )
    observe_issue(  # GitHub's own issue #2 of the same repository, closed too
        sqlite_engine,
        IssueObservation(REPO, 2, IssueState.CLOSED, None, done, [], done),
    )
    _sync(sqlite_engine, fake, {"ENG": REPO}, NOW)
    assert _closed(sqlite_engine) == [(REPO, 2, ""), (REPO, 2, "ENG-2")]
    ticket = find_tracker_ticket(sqlite_engine, Provider.LINEAR, "i-ENG-2")
    assert ticket is not None and ticket.issue_state == IssueState.CLOSED
    period = Period(NOW - timedelta(days=1), NOW + timedelta(days=1))
    m = store_metrics(sqlite_engine, period, {"repo": REPO})
    assert m.closed_in_period == 2 and m.handed == 1

    reopened = _issue(2, "ENG", "started")  # reopened in Linear, after the last sync
    fake.issues["i-ENG-2"] = reopened.model_copy(update={"updated_at": NOW + timedelta(hours=1)})
    _sync(sqlite_engine, fake, {"ENG": REPO}, NOW + timedelta(hours=2))
    assert _closed(sqlite_engine) == [(REPO, 2, "")]
    ticket = find_tracker_ticket(sqlite_engine, Provider.LINEAR, "i-ENG-2")
    assert ticket is not None and ticket.issue_state == IssueState.OPEN
    assert ticket.issue_reopened_at is not None
