"""The lifecycle sync through real PyGithub and real git against the GitHub stand-in: an
agent pull request merged, then reverted with `git revert` on the default branch."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from scheduler.jobs.lifecycle import sync_lifecycle
from tests.support.github_standin import Git, GitHubStandIn, client
from tests.support.history import HistoryBuilder
from worker.github.client import PyGithubClient
from worker.store.db import session_scope
from worker.store.models import AgentPull, ClosedIssue, PullState

REPO = "acme/widgets"


def test_a_merged_then_reverted_agent_pull_request(sqlite_engine: Engine, tmp_path: Path) -> None:
    with GitHubStandIn() as gh:
        token = gh.add_repo(REPO, {"README.md": "# w\n"})
        issue = gh.create_issue(REPO, "Fix", "", "maria")
        other = gh.create_issue(REPO, "Done by hand", "", "maria")
        git = Git(tmp_path, token)
        work = git.clone(gh.git_url(REPO))
        git.ok("checkout", "--quiet", "-b", f"burndown/issue-{issue}", cwd=work)
        git.commit_and_push(work, {"fix.txt": "fixed\n"}, f"burndown/issue-{issue}")
        ours = PyGithubClient(gh.api_url, token, timeout=10, retries=0)
        pr = ours.open_pull(
            REPO, head=f"burndown/issue-{issue}", base="main", title="Fix", body=f"Closes #{issue}"
        )
        h = HistoryBuilder(sqlite_engine)
        tid = h.ticket(REPO, issue, datetime.now(UTC))
        h.run(tid, datetime.now(UTC), repo=REPO, pr_number=pr.number)

        repo = client(gh, token).get_repo(REPO)
        merge_sha = repo.get_pull(pr.number).merge(merge_method="merge").sha
        repo.get_issue(issue).edit(state="closed")
        repo.get_issue(other).edit(state="closed")

        def sync() -> int:
            counts = sync_lifecycle(
                sqlite_engine,
                ours,
                now=datetime.now(UTC) + timedelta(seconds=1),
                lookback=timedelta(days=1),
                overlap=timedelta(hours=1),
            )
            assert counts.errors == []
            return counts.reverts

        assert sync() == 0
        git.ok("checkout", "--quiet", "main", cwd=work)
        git.ok("pull", "--quiet", "origin", "main", cwd=work)
        git.ok("revert", "--no-edit", "-m", "1", merge_sha, cwd=work)
        git.ok("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=work)
        revert = git.ok("rev-parse", "HEAD", cwd=work).strip()
        assert sync() == 1
        assert sync() == 0

    with session_scope(sqlite_engine) as s:
        (row,) = s.exec(select(AgentPull)).all()
        closed = sorted(c.number for c in s.exec(select(ClosedIssue)).all())
    assert (row.number, row.state, row.merge_commit_sha) == (pr.number, PullState.MERGED, merge_sha)
    assert row.revert_sha == revert and row.reverted_at is not None
    assert closed == [issue, other]
