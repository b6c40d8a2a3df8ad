"""Lifecycle: observations applied once and in GitHub's order; the sync catches what webhooks
missed (merges, closes, reopenings, closed issues, reverts) and is idempotent."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from scheduler.jobs.lifecycle import reverted_shas, sync_lifecycle
from tests.support.history import HistoryBuilder
from worker.github.fake import FakeGitHub
from worker.github.protocol import Commit, IssueState, PullRequest, Repository
from worker.store.db import session_scope
from worker.store.lifecycle import PullObservation, observe_pull
from worker.store.models import AgentPull, ClosedIssue, PullState, Ticket

REPO = "acme/widgets"
T0 = datetime(2030, 3, 4, 9, tzinfo=UTC)  # a Monday
NOW = T0 + timedelta(days=10)


def obs(state: PullState, minutes: int, **kw: object) -> PullObservation:
    at = T0 + timedelta(minutes=minutes)
    closed = at if state != PullState.OPEN else None
    merged = at if state == PullState.MERGED else None
    return PullObservation(
        repo=REPO, number=5, state=state, observed_at=at, closed_at=closed, merged_at=merged, **kw
    )  # type: ignore[arg-type]


def test_observations_apply_in_github_order_and_once(engine: Engine) -> None:
    observe_pull(engine, obs(PullState.OPEN, 0, opened_at=T0))
    observe_pull(engine, obs(PullState.CLOSED, 10))
    observe_pull(engine, obs(PullState.CLOSED, 10))  # the same fact twice
    row = observe_pull(engine, obs(PullState.OPEN, 5))  # older than what we know: ignored
    assert (row.state, row.reopened_count) == (PullState.CLOSED, 0)
    row = observe_pull(engine, obs(PullState.OPEN, 20))
    assert (row.state, row.reopened_count, row.closed_at) == (PullState.OPEN, 1, None)
    observe_pull(engine, obs(PullState.OPEN, 20))
    row = observe_pull(engine, obs(PullState.MERGED, 30, merge_commit_sha="abc"))
    assert (row.state, row.reopened_count, row.merge_commit_sha) == (PullState.MERGED, 1, "abc")
    row = observe_pull(engine, obs(PullState.CLOSED, 40))  # a merge is final
    assert row.state == PullState.MERGED and row.opened_at is not None
    with session_scope(engine) as s:
        assert len(s.exec(select(AgentPull)).all()) == 1


def test_revert_messages() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert reverted_shas(f'Revert "Fix"\n\nThis reverts commit {sha}.') == [sha]
    merge_revert = f"Revert\n\nThis reverts commit {sha}, reversing\nchanges made to 1234567."
    assert reverted_shas(merge_revert) == [sha]
    assert reverted_shas("Fix the revert logic") == []


def _world(engine: Engine) -> tuple[FakeGitHub, dict[str, int]]:
    """Tickets 1..3 with agent PRs 11 (merged, later reverted), 12 (closed, then reopened) and
    13 (still open); issue 1 is closed by its merge and reopened; 7 and 8 closed by people."""
    h = HistoryBuilder(engine)
    ids = {}
    for n in (1, 2, 3):
        ids[f"t{n}"] = h.ticket(REPO, n, T0)
        h.run(ids[f"t{n}"], T0 + timedelta(hours=1), repo=REPO, pr_number=10 + n)
    gh = FakeGitHub(repos={REPO: Repository(full_name=REPO, clone_url="x", default_branch="main")})

    def pr(n: int, **kw: object) -> PullRequest:
        base = {"number": n, "url": f"u/{n}", "head": f"burndown/issue-{n - 10}", "base": "main"}
        created = T0 + timedelta(hours=2)
        return PullRequest.model_validate({**base, "created_at": created, **kw})

    merged_at = T0 + timedelta(days=1)
    gh.pulls = [
        (
            REPO,
            pr(
                11,
                state="closed",
                merged=True,
                merged_at=merged_at,
                closed_at=merged_at,
                updated_at=merged_at,
                merge_commit_sha="a" * 40,
                head_sha="b" * 40,
            ),
            "",
        ),
        (REPO, pr(12, state="closed", closed_at=merged_at, updated_at=merged_at), ""),
        (REPO, pr(13, state="open", updated_at=T0 + timedelta(hours=2)), ""),
    ]
    later = T0 + timedelta(days=2)
    gh.issue_states = {
        (REPO, 1): IssueState(
            number=1,
            state="closed",
            closed_at=merged_at,
            updated_at=merged_at,
            labels=["bug"],
            state_reason="completed",
        ),
        (REPO, 7): IssueState(number=7, state="closed", closed_at=later, updated_at=later),
        (REPO, 8): IssueState(
            number=8, state="closed", closed_at=later, updated_at=later, labels=["docs"]
        ),
        (REPO, 11): IssueState(
            number=11, state="closed", closed_at=merged_at, updated_at=later, is_pull=True
        ),
    }
    return gh, ids


def _sync(engine: Engine, gh: FakeGitHub, now: datetime = NOW) -> tuple[int, int]:
    counts = sync_lifecycle(
        engine, gh, now=now, lookback=timedelta(days=30), overlap=timedelta(hours=1)
    )
    assert counts.errors == []
    return counts.pulls_checked, counts.reverts


def _pulls(engine: Engine) -> dict[int, AgentPull]:
    with session_scope(engine) as s:
        return {p.number: p for p in s.exec(select(AgentPull)).all()}


def test_the_sync_records_pull_requests_issues_and_reverts_once(engine: Engine) -> None:
    gh, ids = _world(engine)
    assert _sync(engine, gh) == (3, 0)
    pulls = _pulls(engine)
    assert {n: p.state for n, p in pulls.items()} == {
        11: PullState.MERGED,
        12: PullState.CLOSED,
        13: PullState.OPEN,
    }
    with session_scope(engine) as s:
        closed = {(c.number, c.labels) for c in s.exec(select(ClosedIssue)).all()}
        t1 = s.get(Ticket, ids["t1"])
    assert closed == {(1, '["bug"]'), (7, "[]"), (8, '["docs"]')}  # pull requests are not issues
    assert t1 is not None and (t1.issue_state, t1.labels) == ("closed", '["bug"]')

    # later: PR 12 reopened, issue 1 reopened, the merge of PR 11 reverted on main
    reopen_at, revert_at = NOW + timedelta(hours=1), NOW + timedelta(hours=2)
    gh.set_pull(REPO, 12, state="open", closed_at=None, updated_at=reopen_at)
    gh.issue_states[(REPO, 1)] = IssueState(
        number=1, state="open", state_reason="reopened", updated_at=reopen_at, labels=["bug"]
    )
    gh.commits[(REPO, "main")] = [
        Commit(
            sha="c" * 40,
            message=f"Revert\n\nThis reverts commit {'a' * 40}.",
            committed_at=revert_at,
        ),
        Commit(sha="d" * 40, message="Unrelated", committed_at=reopen_at),
    ]
    later = NOW + timedelta(hours=3)
    assert _sync(engine, gh, later) == (2, 1)  # 11 is merged: final, not asked again
    assert _sync(engine, gh, later) == (2, 0)  # twice: the same store
    pulls = _pulls(engine)
    assert (pulls[12].state, pulls[12].reopened_count) == (PullState.OPEN, 1)
    assert pulls[11].revert_sha == "c" * 40 and pulls[11].reverted_at is not None
    with session_scope(engine) as s:
        t1 = s.get(Ticket, ids["t1"])
        numbers = {c.number for c in s.exec(select(ClosedIssue)).all()}
    assert t1 is not None and t1.issue_state == "open" and t1.issue_reopened_at is not None
    assert numbers == {7, 8}  # a reopened issue is no longer closed


def test_a_github_failure_on_one_repository_is_reported_not_raised(engine: Engine) -> None:
    gh, _ = _world(engine)
    gh.fail["issues_updated_since"] = "GitHub answered 502"
    counts = sync_lifecycle(
        engine, gh, now=NOW, lookback=timedelta(days=30), overlap=timedelta(hours=1)
    )
    assert counts.pulls_checked == 3 and counts.errors == ["GitHub answered 502"]


def test_beat_runs_the_sync_periodically(tmp_path: Path) -> None:
    from scheduler.jobs import LIFECYCLE_TASK, register
    from worker.celery_app import create_celery
    from worker.settings import Settings

    settings = Settings(data_dir=tmp_path, lifecycle_sync_interval_seconds=120, github_token=None)
    app = create_celery(settings)
    register(app, settings)
    assert app.conf.beat_schedule["lifecycle"] == {"task": LIFECYCLE_TASK, "schedule": 120}
    app.tasks[LIFECYCLE_TASK]()  # no GitHub token: skipped with a warning, not raised
