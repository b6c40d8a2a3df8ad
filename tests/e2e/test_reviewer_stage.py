"""The reviewer stage on real parts: the pipeline with the real Claude Code in the real
sandbox, verification in fresh sandboxes, and PyGithub and git against the stand-in."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import CHECK, README, World
from tests.support.model_server import Request, ScriptSource, ToolCall, Turn
from worker.pipeline import PipelineDeps, run_ticket
from worker.settings import Settings
from worker.store.migrate import upgrade
from worker.store.models import OutcomeKind
from worker.store.repo import queue_ticket, upsert_ticket
from worker.wiring import pipeline_deps


def setup_repo(w: World, files: dict[str, str], repo: str = "acme/checked") -> str:
    w.github.add_repo(repo, {"README.md": README, **files})
    w.github.set_permission(repo, "maria", "maintain")
    w.github.set_permission(repo, "burndown-bot", "write")
    return repo


def deps(w: World, tmp_path: Path, **overrides: object) -> PipelineDeps:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    env = w.env
    s = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        github_api_url=env["BURNDOWN_GITHUB_API_URL"],
        github_token=env["BURNDOWN_GITHUB_TOKEN"],
        anthropic_base_url=w.model.base_url,
        anthropic_api_key="sk-ant-test",
        sandbox_image=env["BURNDOWN_SANDBOX_IMAGE"],
        run_timeout_seconds=120,
        **overrides,  # type: ignore[arg-type]
    )
    return pipeline_deps(s)


def run(w: World, d: PipelineDeps, repo: str, script: ScriptSource) -> tuple[OutcomeKind, str]:
    # labelled, as intake sees it: the run checks the label is still there when it starts
    number = w.github.create_issue(
        repo, "Fix the README typo", "It says Teh.", "maria", ["burndown"]
    )
    w.model.set_script(script)
    t = upsert_ticket(
        d.engine,
        repo,
        number,
        title="Fix the README typo",
        body="It says Teh.",
        url="u",
        labeled_by="maria",
    )
    assert t.id is not None and queue_ticket(d.engine, t.id)
    outcome = run_ticket(t.id, d)
    assert outcome is not None
    return OutcomeKind(outcome.kind), outcome.detail


def shell(cmd: str) -> list[Turn]:
    return [Turn(tool_calls=[ToolCall(shell=cmd)]), Turn(text="Done: " + cmd[:40])]


FIX = shell("sed -i 's/Teh/The/' README.md")


def test_a_verified_change_is_a_ready_pull_request_with_label_and_reviewer(
    world: World, tmp_path: Path
) -> None:
    repo = setup_repo(world, {".burndown.yml": "test: sh check.sh\n", "check.sh": CHECK})
    kind, detail = run(world, deps(world, tmp_path), repo, FIX)
    assert kind == OutcomeKind.PR_OPENED, detail
    (pr,) = world.github.pulls(repo)
    assert pr["draft"] is False and [lb["name"] for lb in pr["labels"]] == ["burndown"]
    assert [u["login"] for u in pr["requested_reviewers"]] == ["maria"]
    assert "Verified: all tests pass" in pr["body"] and "`sh check.sh`" in pr["body"]


def test_a_change_that_breaks_a_test_is_a_draft(world: World, tmp_path: Path) -> None:
    breaks = 'grep -q "Teh widgets" README.md || { echo "not ok 1 - keeps Teh"; exit 1; }\n'
    repo = setup_repo(world, {".burndown.yml": "test: sh check.sh\n", "check.sh": breaks})
    kind, _ = run(world, deps(world, tmp_path), repo, FIX)
    assert kind == OutcomeKind.PR_DRAFT
    (pr,) = world.github.pulls(repo)
    assert pr["draft"] is True and "Newly failing: `keeps Teh`" in pr["body"]


@pytest.mark.parametrize(
    ("cmd", "config", "rule"),
    [
        (
            "mkdir -p .github/workflows && echo 'on: push' > .github/workflows/x.yml",
            "",
            "forbidden path at `.github/workflows/x.yml`",
        ),
        (
            "echo 'TOKEN=ghp_" + "a1B2" * 9 + "' > conf.env.txt",
            "",
            "secret in added line at `conf.env.txt:1`",
        ),
        ("echo a > a.txt && echo b > b.txt", "policy:\n  max_files: 1\n", "too many files"),
        ("seq 1 50 > n.txt", "policy:\n  max_lines: 10\n", "too many lines"),
        ("head -c 2000000 /dev/urandom > blob.bin", "", "large binary at `blob.bin`"),
    ],
)
def test_each_policy_rule_refuses_and_pushes_nothing(
    world: World, tmp_path: Path, cmd: str, config: str, rule: str
) -> None:
    repo = setup_repo(world, {".burndown.yml": config} if config else {})
    kind, detail = run(world, deps(world, tmp_path), repo, shell(cmd))
    assert kind == OutcomeKind.REFUSED and rule in detail
    assert world.github.pulls(repo) == []
    assert world.github.branch_sha(repo, "burndown/issue-1") is None
    comments = [c["body"] for c in world.github.issue_comments(repo, 1)]
    (last,) = [c for c in comments if "Burndown status:" not in c]  # besides the live status
    assert rule in last and "nothing was pushed" in last


def test_no_changes_gives_a_comment_and_no_pull_request(world: World, tmp_path: Path) -> None:
    repo = setup_repo(world, {})
    kind, _ = run(world, deps(world, tmp_path), repo, shell("true"))
    assert kind == OutcomeKind.NO_CHANGES and world.github.pulls(repo) == []
    assert "made no changes" in world.github.issue_comments(repo, 1)[-1]["body"]


def test_a_second_run_updates_the_one_pull_request(world: World, tmp_path: Path) -> None:
    repo = setup_repo(world, {".burndown.yml": "test: sh check.sh\n", "check.sh": CHECK})
    d = deps(world, tmp_path)
    run(world, d, repo, FIX)
    t = upsert_ticket(
        d.engine, repo, 1, title="Fix the README typo", body="b", url="u", labeled_by="maria"
    )
    assert t.id is not None and queue_ticket(d.engine, t.id)
    world.model.set_script(shell("sed -i 's/Teh/The/' README.md && echo more >> README.md"))
    outcome = run_ticket(t.id, d)
    assert outcome is not None and outcome.kind == OutcomeKind.PR_UPDATED
    (pr,) = world.github.pulls(repo)
    assert (
        world.github.branch_file(repo, pr["head"]["ref"], "README.md")
        == "# Widgets\n\nThe widgets.\nmore\n"
    )


def _reviewer_or_agent(verdict: str) -> Callable[[Request], Turn]:
    """The agent fixes the typo; the reviewer (its own conversation, recognised by the review
    prompt) reads the file and tries to write, which the read-only sandbox refuses."""
    agent = FIX
    reviewer = [
        Turn(tool_calls=[ToolCall(shell="cat README.md; echo x > README.md; echo rc=$?")]),
        Turn(text=f"The typo is fixed.\nVERDICT: {verdict}"),
    ]

    def answer(req: Request) -> Turn:
        turns = reviewer if "You are reviewing a change" in json.dumps(req.body) else agent
        return turns[min(req.assistant_turns, len(turns) - 1)]

    return answer


@pytest.mark.parametrize(
    ("verdict", "kind"),
    [("APPROVE", OutcomeKind.PR_OPENED), ("REQUEST_CHANGES", OutcomeKind.PR_DRAFT)],
)
def test_the_reviewer_reads_only_and_its_verdict_decides_draft(
    world: World, tmp_path: Path, verdict: str, kind: OutcomeKind
) -> None:
    repo = setup_repo(
        world, {".burndown.yml": "test: sh check.sh\nreview:\n  enabled: true\n", "check.sh": CHECK}
    )
    got, detail = run(world, deps(world, tmp_path), repo, _reviewer_or_agent(verdict))
    assert got == kind, detail
    (pr,) = world.github.pulls(repo)
    assert "The typo is fixed." in pr["body"] and pr["draft"] is (kind == OutcomeKind.PR_DRAFT)
    # The reviewer's write failed, so the pushed README is the agent's.
    assert (
        world.github.branch_file(repo, pr["head"]["ref"], "README.md")
        == "# Widgets\n\nThe widgets.\n"
    )
    tool_outputs = json.dumps([r.body for r in world.model.requests])
    assert "Read-only file system" in tool_outputs
