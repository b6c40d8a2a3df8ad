"""The pipeline with a scripted runtime and GitHub, and real git on local repositories."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sandbox.fakes import FakeRuntime
from sandbox.runtime import RUN_LABEL, ContainerSpec
from tests.support.gitrepo import git, make_remote
from worker.github.fake import FakeGitHub
from worker.github.protocol import Issue, Repository
from worker.pipeline import PipelineConfig, PipelineDeps, run_ticket
from worker.store.models import OutcomeKind, TicketStatus
from worker.store.repo import get_ticket, queue_ticket, run_events, upsert_ticket

REPO = "octo/widgets"


def claude_lines(result: str = "success", text: str = "Fixed the greeting.") -> list[str]:
    return [
        json.dumps(x)
        for x in [
            {
                "type": "system",
                "subtype": "init",
                "session_id": "s1",
                "model": "claude-x",
                "cwd": "/workspace",
                "tools": ["Bash"],
                "claude_code_version": "2.1.330",
            },
            {
                "type": "assistant",
                "message": {
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "Bash",
                            "input": {"command": "echo"},
                        }
                    ]
                },
            },
            {
                "type": "user",
                "message": {
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": "ok",
                            "is_error": False,
                        }
                    ]
                },
            },
            {
                "type": "result",
                "subtype": result,
                "is_error": result != "success",
                "num_turns": 2,
                "result": text,
                "total_cost_usd": 0.0123,
                "usage": {"input_tokens": 150, "output_tokens": 40, "cache_read_input_tokens": 10},
            },
        ]
    ]


def edit(path: str, content: str, lines: list[str], code: int = 0) -> FakeRuntime:
    def script(spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
        assert ws is not None
        (ws / path).write_text(content)
        return lines, code

    return FakeRuntime(script)


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Engine) -> tuple[FakeGitHub, Path, int]:
    remote = make_remote(tmp_path, {"hello.py": "print('helo')\n"})
    gh = FakeGitHub()
    gh.repos[REPO] = Repository(full_name=REPO, clone_url=f"file://{remote}", default_branch="main")
    gh.issues[(REPO, 3)] = Issue(
        repo=REPO,
        number=3,
        title="Typo in greeting",
        body="helo->hello",
        url="u",
        author="alice",
        state="open",
        labels=["burndown"],
    )
    t = upsert_ticket(
        sqlite_engine,
        REPO,
        3,
        title="Typo in greeting",
        body="helo->hello",
        url="u",
        labeled_by="alice",
    )
    assert t.id is not None
    queue_ticket(sqlite_engine, t.id)
    return gh, remote, t.id


def add_issue(
    gh: FakeGitHub, number: int, body: str = "b", labels: list[str] | None = None
) -> None:
    gh.issues[(REPO, number)] = Issue(
        repo=REPO,
        number=number,
        title="t",
        body=body,
        url="u",
        author="a",
        state="open",
        labels=labels or ["burndown"],
    )


def deps(engine: Engine, gh: FakeGitHub, runtime: FakeRuntime, tmp: Path) -> PipelineDeps:
    cfg = PipelineConfig(image="img", harness="claude-code", work_dir=tmp / "data")
    return PipelineDeps(engine=engine, github=gh, runtime=runtime, git_token="tok", config=cfg)


def test_a_change_becomes_a_pull_request(
    world: tuple[FakeGitHub, Path, int], sqlite_engine: Engine, tmp_path: Path
) -> None:
    gh, remote, tid = world
    runtime = edit("hello.py", "print('hello')\n", claude_lines())
    outcome = run_ticket(tid, deps(sqlite_engine, gh, runtime, tmp_path))
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    ((repo, pr, body),) = gh.pulls
    assert (repo, pr.head, pr.base) == (REPO, "burndown/issue-3", "main")
    assert "Closes #3" in body and "Fixed the greeting." in body and "$0.0123" in body
    assert git("show", "burndown/issue-3:hello.py", cwd=remote) == "print('hello')"
    assert any(pr.url in c for _, n, c in gh.comments if n == 3)
    spec = runtime.specs[0]
    assert spec.labels[RUN_LABEL] == str(outcome.run_id)
    assert "tok" not in json.dumps(spec.env) and spec.command[0] == "claude"
    kinds = [e.kind for e in run_events(sqlite_engine, outcome.run_id)]
    assert {"session_start", "tool_call", "tool_result", "usage", "cost", "result"} <= set(kinds)
    assert {"clone", "first_event", "harness", "push", "pull_request"} <= {
        json.loads(e.data)["stage"]
        for e in run_events(sqlite_engine, outcome.run_id)
        if e.kind == "stage"
    }
    ticket = get_ticket(sqlite_engine, tid)
    assert ticket is not None and ticket.status == TicketStatus.DONE


def test_running_twice_runs_once(
    world: tuple[FakeGitHub, Path, int], sqlite_engine: Engine, tmp_path: Path
) -> None:
    gh, _, tid = world
    d = deps(sqlite_engine, gh, edit("hello.py", "x\n", claude_lines()), tmp_path)
    assert run_ticket(tid, d) is not None
    assert run_ticket(tid, d) is None
    assert len(gh.pulls) == 1


def test_no_changes_means_no_pull_request_and_a_comment(
    world: tuple[FakeGitHub, Path, int], sqlite_engine: Engine, tmp_path: Path
) -> None:
    gh, _, tid = world
    runtime = edit("hello.py", "print('helo')\n", claude_lines())
    outcome = run_ticket(tid, deps(sqlite_engine, gh, runtime, tmp_path))
    assert outcome is not None and outcome.kind == OutcomeKind.NO_CHANGES
    assert gh.pulls == []
    assert "made no changes" in gh.comments[-1][2]


def test_a_failed_harness_is_recorded_and_explained(
    world: tuple[FakeGitHub, Path, int], sqlite_engine: Engine, tmp_path: Path
) -> None:
    gh, _, tid = world
    runtime = edit("hello.py", "x\n", claude_lines("error_max_turns", "out of turns"), code=1)
    outcome = run_ticket(tid, deps(sqlite_engine, gh, runtime, tmp_path))
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert "max_turns" in outcome.detail and gh.pulls == []
    assert "could not finish" in gh.comments[-1][2]
    ticket = get_ticket(sqlite_engine, tid)
    assert ticket is not None and ticket.status == TicketStatus.FAILED


def test_a_broken_repository_is_a_failed_outcome(
    world: tuple[FakeGitHub, Path, int], sqlite_engine: Engine, tmp_path: Path
) -> None:
    gh, _, tid = world
    gh.repos[REPO] = Repository(
        full_name=REPO, clone_url=f"file://{tmp_path}/gone.git", default_branch="main"
    )
    outcome = run_ticket(tid, deps(sqlite_engine, gh, edit("a", "b", []), tmp_path))
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert "git clone failed" in outcome.detail


def test_an_unknown_harness_is_a_failed_outcome_naming_the_choices(
    world: tuple[FakeGitHub, Path, int], sqlite_engine: Engine, tmp_path: Path
) -> None:
    gh, _, tid = world
    d = deps(sqlite_engine, gh, edit("a", "b", []), tmp_path)
    outcome = run_ticket(tid, d, harness="nonesuch")
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert "nonesuch" in outcome.detail and "claude-code" in outcome.detail


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("harness: nonesuch\n", "valid: aider, claude-code, codex, mini-swe-agent"),
        ("harness: [broken\n", "not valid YAML"),
        ("max_turns: lots\n", "max_turns"),
    ],
)
def test_a_bad_repository_config_is_explained_and_no_agent_runs(
    tmp_path: Path, sqlite_engine: Engine, config: str, says: str
) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n", ".burndown.yml": config})
    gh = FakeGitHub()
    gh.repos[REPO] = Repository(full_name=REPO, clone_url=f"file://{remote}", default_branch="main")
    add_issue(gh, 4)
    t = upsert_ticket(sqlite_engine, REPO, 4, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(sqlite_engine, t.id)
    runtime = edit("a.txt", "b\n", claude_lines())
    outcome = run_ticket(t.id, deps(sqlite_engine, gh, runtime, tmp_path))
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert runtime.specs == [] and gh.pulls == []
    assert says in gh.comments[-1][2] and says in outcome.detail


def test_the_repository_config_sets_the_run_options(tmp_path: Path, sqlite_engine: Engine) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n", ".burndown.yml": "max_turns: 7\nmodel: m9\n"})
    gh = FakeGitHub()
    gh.repos[REPO] = Repository(full_name=REPO, clone_url=f"file://{remote}", default_branch="main")
    add_issue(gh, 5)
    t = upsert_ticket(sqlite_engine, REPO, 5, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(sqlite_engine, t.id)
    runtime = edit("a.txt", "b\n", claude_lines())
    run_ticket(t.id, deps(sqlite_engine, gh, runtime, tmp_path))
    argv = runtime.specs[0].command
    assert argv[argv.index("--max-turns") + 1] == "7" and argv[argv.index("--model") + 1] == "m9"


@pytest.mark.parametrize(
    ("labels", "body", "says"),
    [
        (["burndown:nonesuch"], "b", "label 'burndown:nonesuch' names an unknown harness"),
        (["burndown"], "fix it\nharness: nope\n", "issue body line 'harness: nope'"),
        (["burndown:codex", "burndown:aider"], "b", "name several harnesses"),
    ],
)
def test_a_bad_ticket_choice_is_explained_and_no_agent_runs(
    tmp_path: Path, sqlite_engine: Engine, labels: list[str], body: str, says: str
) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n"})
    gh = FakeGitHub()
    gh.repos[REPO] = Repository(full_name=REPO, clone_url=f"file://{remote}", default_branch="main")
    add_issue(gh, 6, body=body, labels=labels)
    t = upsert_ticket(sqlite_engine, REPO, 6, title="t", body=body, url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(sqlite_engine, t.id)
    runtime = edit("a.txt", "b\n", claude_lines())
    outcome = run_ticket(t.id, deps(sqlite_engine, gh, runtime, tmp_path))
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED and runtime.specs == []
    comment = gh.comments[-1][2]
    assert says in comment and "aider, claude-code, codex, mini-swe-agent" in comment


def test_a_label_chooses_the_harness_over_the_repository_config(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    remote = make_remote(tmp_path, {"a.txt": "a\n", ".burndown.yml": "harness: aider\n"})
    gh = FakeGitHub()
    gh.repos[REPO] = Repository(full_name=REPO, clone_url=f"file://{remote}", default_branch="main")
    add_issue(gh, 7, labels=["burndown:claude-code"])
    t = upsert_ticket(sqlite_engine, REPO, 7, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(sqlite_engine, t.id)
    runtime = edit("a.txt", "b\n", claude_lines())
    outcome = run_ticket(t.id, deps(sqlite_engine, gh, runtime, tmp_path))
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    assert runtime.specs[0].command[0] == "claude"


def test_a_refused_option_is_explained_and_no_agent_runs(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    yml = "harness: codex\nmax_turns: 3\n"
    remote = make_remote(tmp_path, {"a.txt": "a\n", ".burndown.yml": yml})
    gh = FakeGitHub()
    gh.repos[REPO] = Repository(full_name=REPO, clone_url=f"file://{remote}", default_branch="main")
    add_issue(gh, 8)
    t = upsert_ticket(sqlite_engine, REPO, 8, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(sqlite_engine, t.id)
    runtime = edit("a.txt", "b\n", claude_lines())
    outcome = run_ticket(t.id, deps(sqlite_engine, gh, runtime, tmp_path))
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED and runtime.specs == []
    assert "harness 'codex' does not support the option 'max_turns'" in gh.comments[-1][2]


def test_a_comparison_runs_the_ticket_once_per_harness_on_its_own_branch(
    world: tuple[FakeGitHub, Path, int], sqlite_engine: Engine, tmp_path: Path
) -> None:
    from sqlmodel import Session, col, select

    from sandbox.runtime import ContainerSpec as Spec
    from worker.pipeline import branch_for
    from worker.store.models import Run
    from worker.store.repo import get_ticket

    gh, _, tid = world
    codex = (Path(__file__).parents[1] / "sandbox/recordings/codex-success.jsonl").read_text()

    def script(spec: Spec, ws: Path | None) -> tuple[list[str], int]:
        assert ws is not None
        (ws / "hello.py").write_text(f"print('hello from {spec.command[0]}')\n")
        return (claude_lines() if spec.command[0] == "claude" else codex.splitlines()), 0

    runtime = FakeRuntime(script)
    d = deps(sqlite_engine, gh, runtime, tmp_path)
    d = replace(d, config=replace(d.config, harness_models={"codex": "gpt-5.5"}))
    ticket = get_ticket(sqlite_engine, tid)
    assert ticket is not None
    for name in ("claude-code", "codex"):
        queue_ticket(sqlite_engine, tid)
        outcome = run_ticket(tid, d, harness=name, branch=branch_for(ticket, name))
        assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    heads = [pr.head for _, pr, _ in gh.pulls]
    assert heads == ["burndown/issue-3-claude-code", "burndown/issue-3-codex"]
    with Session(sqlite_engine) as s:
        runs = s.exec(select(Run).where(Run.ticket_id == tid).order_by(col(Run.id))).all()
    assert [(r.harness, r.branch) for r in runs] == [
        ("claude-code", "burndown/issue-3-claude-code"),
        ("codex", "burndown/issue-3-codex"),
    ]
    assert runs[1].cost_usd == 0.00080875  # Codex reports none: priced from its tokens
    assert (runs[0].model, runs[1].model) == (None, "gpt-5.5")
