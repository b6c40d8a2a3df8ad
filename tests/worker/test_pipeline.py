"""The pipeline with a scripted runtime and GitHub, and real git on local repositories."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from sandbox.fakes import FakeRuntime
from sandbox.harness.access import ModelEndpoints
from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL, ContainerSpec, EgressEvent, SandboxPolicy
from tests.support.gitrepo import git, make_remote
from worker.diff_policy import DiffPolicy
from worker.github.fake import FakeGitHub
from worker.github.protocol import Issue, PullRequest, Repository
from worker.pipeline import PipelineConfig, PipelineDeps, run_ticket
from worker.store.models import OutcomeKind, RunKind, TicketStatus
from worker.store.repo import get_ticket, queue_ticket, run_events, upsert_ticket

REPO = "octo/widgets"
CONFIG = "test: sh check.sh\n"


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


TestScript = Callable[[Path], tuple[list[str], int]]


@dataclass
class Scene:
    """What the fake sandbox does: the agent's edits and words, the tests' results, the
    reviewer's words. Verification containers run `sh -c`; the reviewer's tree is read-only."""

    edits: dict[str, str] = field(default_factory=lambda: {"hello.py": "print('hello')\n"})
    lines: list[str] = field(default_factory=claude_lines)
    code: int = 0
    tests: TestScript = lambda tree: (["1 passed"], 0)
    review: str = "Looks right.\nVERDICT: APPROVE"
    seen: list[str] = field(default_factory=list)

    def __call__(self, spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
        assert ws is not None
        if spec.command[0] == "sh":
            self.seen.append("verify")
            return self.tests(ws)
        if spec.mounts[0].read_only:
            self.seen.append("review")
            return claude_lines(text=self.review), 0
        self.seen.append("agent")
        for path, content in self.edits.items():
            (ws / path).parent.mkdir(parents=True, exist_ok=True)
            (ws / path).write_text(content)
        return self.lines, self.code


@dataclass
class World:
    gh: FakeGitHub
    remote: Path
    engine: Engine
    tmp: Path

    def ticket(
        self,
        number: int = 3,
        kind: RunKind = RunKind.INITIAL,
        feedback: str | None = None,
        labels: list[str] | None = None,
        body: str = "helo->hello",
        edited: str | None = None,
    ) -> int:
        """A ticket pinned with `body` at label time; the live issue says `edited` if given."""
        self.gh.issues[(REPO, number)] = Issue(
            repo=REPO,
            number=number,
            title="Typo in greeting",
            body=body if edited is None else edited,
            url="u",
            author="alice",
            state="open",
            labels=labels or ["burndown"],
        )
        t = upsert_ticket(
            self.engine,
            REPO,
            number,
            title="Typo in greeting",
            body=body,
            url="u",
            labeled_by="alice",
        )
        assert t.id is not None
        queue_ticket(self.engine, t.id, kind=kind, feedback=feedback, requested_by="bob")
        return t.id

    def run(self, scene: Scene, ticket_id: int, **cfg: object):  # type: ignore[no-untyped-def]
        runtime = FakeRuntime(scene)
        config = PipelineConfig(
            image="img", harness="claude-code", work_dir=self.tmp / "data", **cfg
        )  # type: ignore[arg-type]
        deps = PipelineDeps(
            engine=self.engine, github=self.gh, runtime=runtime, git_token="tok", config=config
        )
        return run_ticket(ticket_id, deps), runtime


def make_world(tmp_path: Path, engine: Engine, files: dict[str, str] | None = None) -> World:
    remote = make_remote(
        tmp_path,
        files or {"hello.py": "print('helo')\n", ".burndown.yml": CONFIG, "check.sh": "true\n"},
    )
    gh = FakeGitHub()
    # Those who asked for runs may still ask when the run starts (re-checked then).
    gh.roles |= {(REPO, "alice"): "write", (REPO, "bob"): "maintain"}
    gh.repos[REPO] = Repository(full_name=REPO, clone_url=f"file://{remote}", default_branch="main")
    return World(gh, remote, engine, tmp_path)


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Engine) -> World:
    return make_world(tmp_path, sqlite_engine)


def test_a_verified_change_becomes_a_ready_pull_request(world: World) -> None:
    scene = Scene()
    outcome, runtime = world.run(scene, world.ticket())
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    assert scene.seen == ["agent", "verify", "verify"]
    ((repo, pr, body),) = world.gh.pulls
    assert (repo, pr.head, pr.base, pr.draft) == (REPO, "burndown/issue-3", "main", False)
    for part in (
        "Closes #3",
        "Fixed the greeting.",
        "$0.0123",
        "Verified: all tests pass",
        "`sh check.sh` (.burndown.yml)",
        "Harness: `claude-code`",
        "150 in / 40 out",
        "/runs/",
    ):
        assert part in body, part
    assert world.gh.labels[(REPO, pr.number)] == ["burndown"]
    assert world.gh.reviews_requested == [(REPO, pr.number, ["alice"])]
    assert git("show", "burndown/issue-3:hello.py", cwd=world.remote) == "print('hello')"
    assert any(pr.url in c for _, n, c in world.gh.comments if n == 3)
    agent_spec = runtime.specs[0]
    assert agent_spec.labels[RUN_LABEL] == str(outcome.run_id)
    assert "tok" not in json.dumps(agent_spec.env) and agent_spec.command[0] == "claude"
    assert all("ANTHROPIC" not in json.dumps(s.env) for s in runtime.specs[1:])
    events = run_events(world.engine, outcome.run_id)
    assert {"session_start", "tool_call", "result", "verification", "policy"} <= {
        e.kind for e in events
    }
    ticket = get_ticket(world.engine, outcome.ticket_id)
    assert ticket is not None and ticket.status == TicketStatus.DONE


def test_verification_runs_on_base_and_on_the_change(world: World) -> None:
    trees: list[str] = []

    def tests(tree: Path) -> tuple[list[str], int]:
        trees.append((tree / "hello.py").read_text())
        return ["ok"], 0

    world.run(Scene(tests=tests), world.ticket())
    assert trees == ["print('helo')\n", "print('hello')\n"]


def test_newly_failing_tests_make_a_draft(world: World) -> None:
    def tests(tree: Path) -> tuple[list[str], int]:
        if "hello" in (tree / "hello.py").read_text().replace("helo", ""):
            return ["FAILED tests/test_a.py::test_greet - boom"], 1
        return ["1 passed"], 0

    outcome, _ = world.run(Scene(tests=tests), world.ticket())
    assert outcome is not None and outcome.kind == OutcomeKind.PR_DRAFT
    ((_, pr, body),) = world.gh.pulls
    assert pr.draft and "Newly failing: `tests/test_a.py::test_greet`" in body
    assert "draft" in world.gh.comments[-1][2]


def test_pre_existing_failures_are_reported_not_blamed(world: World) -> None:
    def tests(tree: Path) -> tuple[list[str], int]:
        return ["FAILED t.py::old - x"], 1

    outcome, _ = world.run(Scene(tests=tests), world.ticket())
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    assert "pre-existing): `t.py::old`" in world.gh.pulls[0][2]


def test_without_tests_the_pull_request_is_a_draft(tmp_path: Path, sqlite_engine: Engine) -> None:
    w = make_world(tmp_path, sqlite_engine, {"hello.py": "print('helo')\n"})
    outcome, _ = w.run(Scene(), w.ticket())
    assert outcome is not None and outcome.kind == OutcomeKind.PR_DRAFT
    assert "no test command is configured or detected" in w.gh.pulls[0][2]


def test_a_doubting_reviewer_makes_a_draft(world: World) -> None:
    scene = Scene(review="This breaks the API.\nVERDICT: REQUEST_CHANGES")
    outcome, _ = world.run(scene, world.ticket(), review=True)
    assert outcome is not None and outcome.kind == OutcomeKind.PR_DRAFT
    assert scene.seen == ["agent", "verify", "verify", "review"]
    body = world.gh.pulls[0][2]
    assert "The reviewer requests changes." in body and "This breaks the API." in body


def test_an_approving_reviewer_keeps_it_ready(world: World) -> None:
    outcome, runtime = world.run(Scene(), world.ticket(), review=True)
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    assert "The reviewer approves." in world.gh.pulls[0][2]
    assert runtime.specs[-1].mounts[0].read_only


@pytest.mark.parametrize(
    ("edits", "policy", "rule"),
    [
        ({".github/workflows/x.yml": "on: push\n"}, DiffPolicy(), "forbidden path"),
        (
            {"a.py": "k = 'ghp_" + "x1Y2" * 9 + "'\n"},
            DiffPolicy(),
            "secret in added line at `a.py:1`",
        ),
        ({"a.txt": "1\n", "b.txt": "2\n"}, DiffPolicy(max_files=1), "too many files"),
        ({"a.txt": "1\n2\n3\n"}, DiffPolicy(max_lines=2), "too many lines"),
    ],
)
def test_a_policy_violation_pushes_nothing_and_says_which_rule(
    world: World, edits: dict[str, str], policy: DiffPolicy, rule: str
) -> None:
    outcome, _ = world.run(Scene(edits=edits), world.ticket(), diff_policy=policy)
    assert outcome is not None and outcome.kind == OutcomeKind.REFUSED and rule in outcome.detail
    assert world.gh.pulls == []
    assert "burndown/issue-3" not in git("branch", "--list", cwd=world.remote)
    assert rule in world.gh.comments[-1][2] and "nothing was pushed" in world.gh.comments[-1][2]


def test_an_existing_pull_request_is_updated_not_duplicated(world: World) -> None:
    world.gh.pulls.append(
        (REPO, PullRequest(number=9, url="u/9", head="burndown/issue-3", base="main"), "old body")
    )
    outcome, _ = world.run(Scene(), world.ticket())
    assert outcome is not None and outcome.kind == OutcomeKind.PR_UPDATED
    assert len(world.gh.pulls) == 1 and "Closes #3" in world.gh.pulls[0][2]
    assert outcome.pr_url == "u/9"


def test_a_follow_up_commits_on_the_same_branch(world: World) -> None:
    world.run(Scene(), world.ticket())
    first = git("rev-parse", "burndown/issue-3", cwd=world.remote)
    tid = world.ticket(kind=RunKind.FOLLOWUP, feedback="Also add a newline at the end.")
    scene = Scene(edits={"hello.py": "print('hello')\n\n"})
    outcome, runtime = world.run(scene, tid)
    assert outcome is not None and outcome.kind == OutcomeKind.PR_UPDATED
    assert git("rev-parse", "burndown/issue-3~1", cwd=world.remote) == first
    prompt = runtime.specs[0].command[2]
    assert "@bob asked for changes" in prompt and "Also add a newline" in prompt
    pr = world.gh.pulls[0][1]
    assert any(n == pr.number and "in answer to @bob" in c for _, n, c in world.gh.comments)


def test_running_twice_runs_once(world: World) -> None:
    tid = world.ticket()
    assert world.run(Scene(), tid)[0] is not None
    assert world.run(Scene(), tid)[0] is None
    assert len(world.gh.pulls) == 1


def test_no_changes_means_no_pull_request_and_a_comment(world: World) -> None:
    outcome, _ = world.run(Scene(edits={}), world.ticket())
    assert outcome is not None and outcome.kind == OutcomeKind.NO_CHANGES
    assert world.gh.pulls == [] and "made no changes" in world.gh.comments[-1][2]


def test_a_failed_harness_is_recorded_and_explained(world: World) -> None:
    scene = Scene(lines=claude_lines("error_max_turns", "out of turns"), code=1)
    outcome, _ = world.run(scene, world.ticket())
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert "max_turns" in outcome.detail and world.gh.pulls == []
    assert "could not finish" in world.gh.comments[-1][2]
    ticket = get_ticket(world.engine, outcome.ticket_id)
    assert ticket is not None and ticket.status == TicketStatus.FAILED


def test_a_broken_repository_is_a_failed_outcome(world: World) -> None:
    world.gh.repos[REPO] = Repository(
        full_name=REPO, clone_url=f"file://{world.tmp}/gone.git", default_branch="main"
    )
    outcome, _ = world.run(Scene(), world.ticket())
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert "git clone failed" in outcome.detail


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
    w = make_world(tmp_path, sqlite_engine, {"a.txt": "a\n", ".burndown.yml": config})
    scene = Scene()
    outcome, _ = w.run(scene, w.ticket())
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert scene.seen == [] and w.gh.pulls == []
    assert says in w.gh.comments[-1][2] and says in outcome.detail


def test_the_repository_config_sets_the_run_options(tmp_path: Path, sqlite_engine: Engine) -> None:
    w = make_world(
        tmp_path, sqlite_engine, {"hello.py": "x\n", ".burndown.yml": "max_turns: 7\nmodel: m9\n"}
    )
    _, runtime = w.run(Scene(), w.ticket())
    argv = runtime.specs[0].command
    assert argv[argv.index("--max-turns") + 1] == "7" and argv[argv.index("--model") + 1] == "m9"


def test_the_sandbox_policy_and_egress_refusals_become_run_events(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    config = (
        CONFIG + "sandbox:\n  memory: 1g\n"
        "  allow_hosts: [pypi.org, files.pythonhosted.org, evil.example]\n"
    )
    world = make_world(
        tmp_path,
        sqlite_engine,
        {"hello.py": "print('helo')\n", ".burndown.yml": config, "check.sh": "true\n"},
    )
    refused = EgressEvent(event="refused", method="CONNECT", host="10.9.9.9", port=443, reason="r")
    runtime = FakeRuntime(Scene(), egress=[refused])
    cfg = PipelineConfig(
        image="img",
        harness="claude-code",
        work_dir=tmp_path / "data",
        models=ModelEndpoints(
            anthropic_base_url="http://gateway.local:4000", anthropic_api_key=SecretStr("k")
        ),
        policy=SandboxPolicy(allow_hosts=("mirror.local:8080",)),
        repo_allowable_hosts=("pypi.org", "*.pythonhosted.org"),
        deployment="team-a",
    )
    deps = PipelineDeps(
        engine=sqlite_engine, github=world.gh, runtime=runtime, git_token="tok", config=cfg
    )
    outcome = run_ticket(world.ticket(), deps)
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    assert len(runtime.specs) == 3  # the agent, then the tests on base and on the change
    tools = ("mirror.local:8080", "pypi.org", "files.pythonhosted.org")
    for i, spec in enumerate(runtime.specs):
        assert spec.policy.memory == "1g"
        # the agent reaches its model too; the tests only the hosts allowed for tools
        assert spec.policy.allow_hosts == (("gateway.local:4000",) if i == 0 else ()) + tools
        assert spec.labels == {RUN_LABEL: str(outcome.run_id), DEPLOYMENT_LABEL: "team-a"}
        assert "tok" not in json.dumps(spec.env)
    assert runtime.specs[0].env["ANTHROPIC_API_KEY"] == "k"
    sandbox_events = [
        (e.kind, json.loads(e.data))
        for e in run_events(sqlite_engine, outcome.run_id)
        if e.source == "sandbox"
    ]
    egress = ("egress_refused", refused.model_dump(exclude_none=True))
    assert sandbox_events == [
        ("allow_host_refused", {"host": "evil.example", "reason": "not allowed by the operator"}),
        egress,  # the agent's sandbox
        egress,  # the tests on the base commit
        egress,  # the tests on the change
    ]


@pytest.mark.parametrize(
    ("labels", "body", "says"),
    [
        (["burndown:nonesuch"], "b", "label 'burndown:nonesuch' names an unknown harness"),
        (["burndown"], "fix it\nharness: nope\n", "issue body line 'harness: nope'"),
        (["burndown:codex", "burndown:aider"], "b", "name several harnesses"),
    ],
)
def test_a_bad_ticket_choice_is_explained_and_no_agent_runs(
    world: World, labels: list[str], body: str, says: str
) -> None:
    scene = Scene()
    outcome, _ = world.run(scene, world.ticket(labels=labels, body=body))
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED and scene.seen == []
    comment = world.gh.comments[-1][2]
    assert says in comment and "aider, claude-code, codex, mini-swe-agent" in comment


def test_a_label_chooses_the_harness_over_the_repository_config(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    w = make_world(
        tmp_path, sqlite_engine, {"hello.py": "x\n", ".burndown.yml": "harness: aider\n"}
    )
    _, runtime = w.run(Scene(), w.ticket(labels=["burndown:claude-code"]))
    assert runtime.specs[0].command[0] == "claude"


def test_a_refused_option_is_explained_and_no_agent_runs(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    w = make_world(
        tmp_path,
        sqlite_engine,
        {"hello.py": "x\n", ".burndown.yml": "harness: codex\nmax_turns: 3\n"},
    )
    scene = Scene()
    outcome, _ = w.run(scene, w.ticket())
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED and scene.seen == []
    assert "harness 'codex' does not support the option 'max_turns'" in w.gh.comments[-1][2]


def test_a_comparison_runs_the_ticket_once_per_harness_on_its_own_branch(world: World) -> None:
    from sqlmodel import Session, col, select

    from worker.pipeline import branch_for
    from worker.store.models import Run

    codex = (Path(__file__).parents[1] / "sandbox/recordings/codex-success.jsonl").read_text()
    tid = world.ticket()
    ticket = get_ticket(world.engine, tid)
    assert ticket is not None

    class Both(Scene):
        def __call__(self, spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
            if "codex" in spec.command:
                assert ws is not None
                (ws / "hello.py").write_text("print('hello from codex')\n")
                return codex.splitlines(), 0
            return super().__call__(spec, ws)

    runtime = FakeRuntime(Both())
    config = PipelineConfig(
        image="img",
        harness="claude-code",
        work_dir=world.tmp / "data",
        harness_models={"codex": "gpt-5.5"},
    )
    d = PipelineDeps(
        engine=world.engine, github=world.gh, runtime=runtime, git_token="t", config=config
    )
    for i, name in enumerate(("claude-code", "codex")):
        if i:
            queue_ticket(world.engine, tid)
        outcome = run_ticket(tid, d, harness=name, branch=branch_for(ticket, name))
        assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED, outcome.detail
    heads = [pr.head for _, pr, _ in world.gh.pulls]
    assert heads == ["burndown/issue-3-claude-code", "burndown/issue-3-codex"]
    with Session(world.engine) as s:
        runs = s.exec(select(Run).where(Run.ticket_id == tid).order_by(col(Run.id))).all()
    assert [(r.harness, r.branch, r.model) for r in runs] == [
        ("claude-code", "burndown/issue-3-claude-code", None),
        ("codex", "burndown/issue-3-codex", "gpt-5.5"),
    ]
    assert runs[1].cost_usd == 0.00080875  # Codex reports none: priced from its tokens


def test_verification_gets_no_route_to_the_model(world: World) -> None:
    _, runtime = world.run(Scene(), world.ticket())
    agent, *checks = runtime.specs
    assert agent.policy.allow_hosts  # the model endpoint (the harness's default here)
    assert [c.policy.allow_hosts for c in checks] == [(), ()]
