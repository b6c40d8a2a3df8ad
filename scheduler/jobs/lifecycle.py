"""What became of the agent's work: pull requests merged, closed, reopened; merges reverted
on the default branch; issues closed and reopened.

Webhooks report changes as they happen (`pull_request` closed/reopened, see
`scheduler.intake.pulls`); `sync_lifecycle`, run periodically, asks GitHub for the same facts and
catches whatever a lost delivery missed. Both apply observations that are idempotent and
ordered by GitHub's own timestamps, so running either twice changes nothing.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from worker.errors import GitHubError
from worker.github.protocol import GitHubClient, PullRequest
from worker.logs import get_logger
from worker.store.lifecycle import (
    IssueObservation,
    PullObservation,
    get_cursor,
    mark_reverted,
    merged_pulls,
    observe_issue,
    observe_pull,
    pull_state,
    pulls_to_check,
    save_cursor,
    tracked_repos,
)
from worker.store.models import IssueState

log = get_logger(__name__)

REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,40})", re.IGNORECASE)


def observation_of(repo: str, pr: PullRequest) -> PullObservation:
    """A pull request as the REST API returned it, as an observation."""
    return PullObservation(
        repo=repo,
        number=pr.number,
        state=pull_state(pr.state, pr.merged or pr.merged_at is not None),
        observed_at=pr.updated_at or datetime.now(UTC),
        opened_at=pr.created_at,
        closed_at=pr.closed_at,
        merged_at=pr.merged_at,
        merge_commit_sha=pr.merge_commit_sha,
        head_sha=pr.head_sha,
    )


def reverted_shas(message: str) -> list[str]:
    """The commits a commit message says it reverts (`git revert` writes the full sha)."""
    return [m.lower() for m in REVERTS.findall(message)]


@dataclass
class SyncCounts:
    """What one sync looked at and changed."""

    pulls_checked: int = 0
    issues_seen: int = 0
    commits_seen: int = 0
    reverts: int = 0
    errors: list[str] = field(default_factory=list)


def sync_lifecycle(
    engine: Engine,
    github: GitHubClient,
    *,
    now: datetime,
    lookback: timedelta,
    overlap: timedelta,
) -> SyncCounts:
    """Bring the store up to date with GitHub: the state of every agent pull request that can
    still change, the issues of tracked repositories changed since the last sync (closed,
    reopened, relabelled), and reverts of merged agent pull requests on the default branch.

    A repository GitHub fails on is logged and retried next time; the others still sync.
    """
    counts = SyncCounts()
    for repo, number in pulls_to_check(engine, now - lookback):
        try:
            observe_pull(engine, observation_of(repo, github.get_pull(repo, number)))
            counts.pulls_checked += 1
        except GitHubError as exc:
            counts.errors.append(str(exc))
    for repo in tracked_repos(engine):
        try:
            _sync_repo(engine, github, repo, now, lookback, overlap, counts)
        except GitHubError as exc:
            counts.errors.append(str(exc))
    log.info(
        "lifecycle synced",
        pulls=counts.pulls_checked,
        issues=counts.issues_seen,
        commits=counts.commits_seen,
        reverts=counts.reverts,
        errors=counts.errors[:5],
    )
    return counts


def _sync_repo(
    engine: Engine,
    github: GitHubClient,
    repo: str,
    now: datetime,
    lookback: timedelta,
    overlap: timedelta,
    counts: SyncCounts,
) -> None:
    cursor = get_cursor(engine, repo)
    since = _since(cursor.issues_until, now, lookback, overlap)
    for issue in github.issues_updated_since(repo, since):
        if issue.is_pull:
            continue
        observe_issue(
            engine,
            IssueObservation(
                repo=repo,
                number=issue.number,
                state=IssueState(issue.state),
                state_reason=issue.state_reason,
                closed_at=issue.closed_at,
                labels=issue.labels,
                seen_at=issue.updated_at,
            ),
        )
        counts.issues_seen += 1
    commits_until = None
    merged = merged_pulls(engine, repo)
    if merged:
        branch = github.get_repo(repo).default_branch
        commits = github.commits_since(
            repo, branch, _since(cursor.commits_until, now, lookback, overlap)
        )
        counts.commits_seen += len(commits)
        by_sha = {sha: p for p in merged for sha in (p.merge_commit_sha, p.head_sha) if sha}
        for commit in reversed(commits):  # oldest first: the first revert is the one kept
            for target in reverted_shas(commit.message):
                pull = next((p for sha, p in by_sha.items() if sha.startswith(target)), None)
                if (
                    pull
                    and pull.id is not None
                    and mark_reverted(engine, pull.id, commit.sha, commit.committed_at)
                ):
                    counts.reverts += 1
                    log.info("merge reverted", repo=repo, pr=pull.number, revert=commit.sha)
        commits_until = now
    save_cursor(engine, repo, issues_until=now, commits_until=commits_until)


def _since(
    until: datetime | None, now: datetime, lookback: timedelta, overlap: timedelta
) -> datetime:
    """Read from the last sync, less an overlap for late arrivals; never before the lookback."""
    if until is None:
        return now - lookback
    aware = until if until.tzinfo else until.replace(tzinfo=now.tzinfo)
    return max(aware - overlap, now - lookback)
