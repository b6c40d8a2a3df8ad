"""The pipeline under faults: cancel while running, the run's deadline, and a branch someone
else pushed to (scripted runtime and GitHub, real git, real store)."""

import threading
import time
from pathlib import Path

import pytest

from sandbox.errors import SandboxUnavailable
from sandbox.fakes import FakeRuntime
from sandbox.runtime import ContainerSpec, SandboxPolicy
from tests.support.gitrepo import git
from tests.worker.test_pipeline import REPO, Scene, World, claude_lines
from worker.pipeline import PipelineConfig, PipelineDeps, run_ticket
from worker.store import liveness
from worker.store.models import OutcomeKind, RunKind, TicketStatus
from worker.store.repo import get_ticket


def _deps(w: World, runtime: FakeRuntime, **cfg: object) -> PipelineDeps:
    config = PipelineConfig(image="img", harness="claude-code", work_dir=w.tmp / "data", **cfg)  # type: ignore[arg-type]
    return PipelineDeps(engine=w.engine, github=w.gh, runtime=runtime, git_token="t", config=config)


def test_a_running_run_is_cancelled_within_seconds(world: World) -> None:
    tid = world.ticket()
    holder: list[FakeRuntime] = []

    def agent(spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
        deadline = time.monotonic() + 20
        while not holder[0].stopped and time.monotonic() < deadline:
            time.sleep(0.05)  # the agent works until its container is killed
        return [], 137

    runtime = FakeRuntime(agent)
    holder.append(runtime)
    deps = _deps(world, runtime, heartbeat_interval=0.1)
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(run_ticket(tid, deps)))
    t.start()
    for _ in range(400):
        ticket = get_ticket(world.engine, tid)
        if ticket is not None and ticket.status == TicketStatus.RUNNING:
            break
        time.sleep(0.05)
    found = liveness.request_cancel(world.engine, tid, "the label was removed")
    assert found.state == "running"
    started = time.monotonic()
    t.join(timeout=30)
    assert time.monotonic() - started < 5
    outcome = result[0]
    assert getattr(outcome, "kind", None) == OutcomeKind.CANCELLED
    ticket = get_ticket(world.engine, tid)
    assert ticket is not None and ticket.status == TicketStatus.CANCELLED
    assert runtime.stopped and world.gh.pulls == []
    assert "stopped working on this issue" in world.gh.comments[-1][2]


def test_every_sandbox_draws_its_time_from_the_runs_deadline(world: World) -> None:
    runtime = FakeRuntime(Scene())
    deps = _deps(world, runtime, policy=SandboxPolicy(timeout_seconds=100))
    outcome = run_ticket(world.ticket(), deps)
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED, outcome.detail
    agent, base, head = runtime.specs
    assert agent.policy.timeout_seconds <= 70  # the agent leaves time for the checks
    assert base.policy.timeout_seconds <= 50 and head.policy.timeout_seconds <= 50


def test_a_new_run_never_pushes_over_someone_elses_commits(world: World) -> None:
    seed = world.tmp / "person"
    git("clone", "-q", str(world.remote), str(seed), cwd=world.tmp)
    git("checkout", "-q", "-b", "burndown/issue-3", cwd=seed)
    (seed / "mine.txt").write_text("a person's work\n")
    git("add", "-A", cwd=seed)
    git("commit", "-qm", "my fix", cwd=seed)
    git("push", "-q", "origin", "burndown/issue-3", cwd=seed)
    theirs = git("rev-parse", "HEAD", cwd=seed)
    runtime = FakeRuntime(Scene())
    outcome = run_ticket(world.ticket(), _deps(world, runtime))
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert "commits by someone else" in outcome.detail and runtime.specs == []
    assert git("rev-parse", "burndown/issue-3", cwd=world.remote) == theirs
    assert "commits by someone else" in world.gh.comments[-1][2]


def test_a_push_to_the_branch_during_the_run_is_never_overwritten(world: World) -> None:
    world.run(Scene(), world.ticket())  # the agent's first pull request
    tid = world.ticket(kind=RunKind.FOLLOWUP, feedback="more")
    seed = world.tmp / "person"
    git("clone", "-q", "-b", "burndown/issue-3", str(world.remote), str(seed), cwd=world.tmp)

    def agent(spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
        if spec.command[0] == "sh":
            return ["1 passed"], 0
        assert ws is not None
        (ws / "hello.py").write_text("print('hello!')\n")
        (seed / "theirs.txt").write_text("pushed while the agent worked\n")
        git("add", "-A", cwd=seed)
        git("commit", "-qm", "meanwhile", cwd=seed)
        git("push", "-q", "origin", "burndown/issue-3", cwd=seed)
        return claude_lines(), 0

    outcome = run_ticket(tid, _deps(world, FakeRuntime(agent)))
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    assert "did not push over" in outcome.detail
    assert git("rev-parse", "burndown/issue-3", cwd=world.remote) == git(
        "rev-parse", "HEAD", cwd=seed
    )


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ("closed", "the issue is closed"),
        ("unlabelled", "label is no longer on the issue"),
        ("demoted", "no longer has write access"),
    ],
)
def test_the_wish_is_rechecked_when_the_run_claims_the_ticket(
    world: World, change: str, says: str
) -> None:
    tid = world.ticket()
    issue = world.gh.issues[(REPO, 3)]
    if change == "closed":
        world.gh.issues[(REPO, 3)] = issue.model_copy(update={"state": "closed"})
    elif change == "unlabelled":
        world.gh.issues[(REPO, 3)] = issue.model_copy(update={"labels": ["bug"]})
    else:
        world.gh.roles |= {(REPO, "alice"): "read", (REPO, "bob"): "read"}
    runtime = FakeRuntime(Scene())
    outcome = run_ticket(tid, _deps(world, runtime))
    assert outcome is not None and outcome.kind == OutcomeKind.CANCELLED
    assert says in outcome.detail and runtime.specs == [] and world.gh.pulls == []
    assert says in world.gh.comments[-1][2]


def test_a_line_flood_and_an_event_flood_are_bounded(world: World) -> None:
    from worker.events import EventRecorder
    from worker.store.repo import run_events, start_run

    tid = world.ticket()
    run = start_run(world.engine, tid, harness="h", model=None, branch="b")
    assert run is not None and run.id is not None
    rec = EventRecorder(world.engine, run.id, max_events=50)
    from sandbox.harness.events import EventKind, HarnessEvent

    for i in range(500):
        rec.harness(HarnessEvent(kind=EventKind.ASSISTANT_TEXT, data={"text": str(i)}))
    rec.close()
    rows = run_events(world.engine, run.id)
    assert len(rows) == 51 and rows[-1].kind == "events_dropped"
    assert '"dropped": 450' in rows[-1].data


def test_the_run_folder_has_a_disk_limit(world: World) -> None:
    def agent(spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
        assert ws is not None
        (ws / "big.bin").write_bytes(b"\0" * 3_000_000)
        time.sleep(1.5)  # the guard looks at the folder on its beat
        return claude_lines(), 0

    runtime = FakeRuntime(agent)
    deps = _deps(world, runtime, heartbeat_interval=0.2, workspace_max_bytes=2_000_000)
    outcome = run_ticket(world.ticket(), deps)
    assert outcome is not None and outcome.kind == OutcomeKind.REFUSED
    assert "grew past" in outcome.detail and world.gh.pulls == []
    assert runtime.stopped


def _unavailable(spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
    raise SandboxUnavailable("cannot start the sandbox: 500 Server Error: Internal Server Error")


def test_a_sandbox_that_cannot_start_queues_its_ticket_again_until_attempts_are_spent(
    world: World,
) -> None:
    tid = world.ticket()
    deps = _deps(world, FakeRuntime(_unavailable), max_run_attempts=2)
    first = run_ticket(tid, deps)
    assert first is not None and first.kind == OutcomeKind.FAILED
    ticket = get_ticket(world.engine, tid)
    assert ticket is not None and ticket.status == TicketStatus.QUEUED
    said = [c for _, _, c in world.gh.comments]
    assert not any("could not finish" in c for c in said), said  # no alarm for a retry
    (status,) = world.gh.statuses.values()
    assert "queued again" in status[-1] and "500 Server Error" in status[-1]

    second = run_ticket(tid, deps)
    assert second is not None and second.kind == OutcomeKind.FAILED
    ticket = get_ticket(world.engine, tid)
    assert ticket is not None and ticket.status == TicketStatus.DEAD
    assert "could not start in 2 attempts" in ticket.dead_reason
    assert any("could not finish" in c for _, _, c in world.gh.comments)
    (status,) = world.gh.statuses.values()
    assert "queued again" not in status[-1]


def test_a_sandbox_lost_after_the_agent_worked_is_not_run_again(world: World) -> None:
    scene = Scene()

    def agent_then_unavailable(spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
        if spec.command[0] == "sh":  # the checks: Docker is gone after the agent spent money
            _unavailable(spec, ws)
        return scene(spec, ws)

    tid = world.ticket()
    outcome = run_ticket(tid, _deps(world, FakeRuntime(agent_then_unavailable)))
    assert outcome is not None and outcome.kind == OutcomeKind.FAILED
    ticket = get_ticket(world.engine, tid)
    assert ticket is not None and ticket.status == TicketStatus.FAILED
    assert any("could not finish" in c for _, _, c in world.gh.comments)
