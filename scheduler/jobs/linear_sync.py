"""The Linear sync: for coverage, the closed issues of the mapped teams (under the repository
each maps to) and the state of Linear tickets' issues, read periodically like the GitHub
lifecycle sync, from a cursor (`updatedAt`) per team."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from sandbox.errors import BurndownError
from scheduler.intake.linear.mapping import repo_for
from scheduler.intake.linear.polling import teams_of
from worker.linear.protocol import LinearClient
from worker.logs import get_logger
from worker.store.models import Provider
from worker.store.polling import get_cursor, save_cursor
from worker.store.trackers import observe_tracker_issue

log = get_logger(__name__)


@dataclass
class LinearSyncCounts:
    """What one Linear sync saw."""

    issues_seen: int = 0
    closed: int = 0
    errors: list[str] = field(default_factory=list)


def sync_linear(
    engine: Engine,
    linear: LinearClient,
    mapping: dict[str, str],
    *,
    now: datetime,
    lookback: timedelta,
    overlap: timedelta,
) -> LinearSyncCounts:
    """Read each mapped team's issues changed since its cursor (the first time: `lookback`)."""
    counts = LinearSyncCounts()
    for team in teams_of(mapping):
        source = f"linear-sync:{team}"
        cursor = get_cursor(engine, source)
        until = cursor.seen_until if cursor else None
        since = _utc(until) - overlap if until else now - lookback
        try:
            issues = linear.team_issues(team, since=since)
        except BurndownError as exc:
            counts.errors.append(f"{team}: {exc}")
            log.warning("linear sync failed", team=team, error=str(exc))
            continue
        for issue in issues:
            repo = repo_for(issue, mapping)
            if repo is None:
                continue
            counts.issues_seen += 1
            counts.closed += issue.closed
            observe_tracker_issue(
                engine,
                Provider.LINEAR,
                tracker_id=issue.id,
                key=issue.identifier,
                repo=repo,
                number=issue.number,
                closed_at=(issue.closed_at or now) if issue.closed else None,
                labels=issue.labels,
            )
        save_cursor(engine, source, None, now)
    return counts


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
