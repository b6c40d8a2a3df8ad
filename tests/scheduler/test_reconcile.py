"""The reconciler on a real store with a scripted runtime and GitHub."""

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from sandbox.errors import SandboxError
from sandbox.fakes import FakeRuntime
from scheduler.jobs.reconcile import ReconcilePolicy, Reconciler
from worker.github.fake import FakeGitHub
from worker.store import liveness
from worker.store.models import OutcomeKind, TicketStatus, utcnow
from worker.store.repo import (
    RunResult,
    finish_run,
    get_ticket,
    queue_ticket,
    record_delivery,
    start_run,
    upsert_ticket,
)

POLICY = ReconcilePolicy(
    first_wait=60,
    max_wait=3600,
    heartbeat_timeout=90,
    max_run_attempts=2,
    max_delivery_attempts=3,
    public_url="http://b",
)


def _reconciler(engine: Engine, tmp: Path) -> tuple[Reconciler, list[tuple[str, object]]]:
    sent: list[tuple[str, object]] = []
    r = Reconciler(
        engine=engine,
        send=lambda name, arg: sent.append((name, arg)),
        intake_task="intake",
        run_task="run",
        policy=POLICY,
        runtime=FakeRuntime(lambda spec, ws: ([], 0)),
        github=FakeGitHub(),
        workspaces=tmp / "workspaces",
    )
    return r, sent


def test_a_run_whose_worker_died_is_closed_told_requeued_and_swept(
    engine: Engine, tmp_path: Path
) -> None:
    t = upsert_ticket(engine, "o/r", 4, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(engine, t.id)
    run = start_run(engine, t.id, harness="h", model=None, branch="b")
    assert run is not None and run.id is not None
    liveness.begin(engine, run.id, deadline=utcnow() + timedelta(hours=1), worker="w")
    left = tmp_path / "workspaces" / f"run-{run.id}" / "ws-x"
    left.mkdir(parents=True)
    r, sent = _reconciler(engine, tmp_path)
    assert r.run(utcnow())["lost_runs"] == 0  # it beats: alive
    counts = r.run(utcnow() + timedelta(seconds=120))
    assert counts["lost_runs"] == 1 and counts["workspaces_swept"] == 1
    assert not left.parent.exists()
    assert ("run", t.id) in sent
    assert isinstance(r.runtime, FakeRuntime) and r.runtime.stopped == [str(run.id)]
    assert isinstance(r.github, FakeGitHub)
    assert "stopped answering" in r.github.comments[-1][2]
    got = get_ticket(engine, t.id)
    assert got is not None and got.status == TicketStatus.QUEUED
    # its second run dies too: the ticket is a dead letter now
    run2 = start_run(engine, t.id, harness="h", model=None, branch="b")
    assert run2 is not None and run2.id is not None
    r.run(utcnow() + timedelta(seconds=240))
    got = get_ticket(engine, t.id)
    assert got is not None and got.status == TicketStatus.DEAD
    assert "will not be retried" in r.github.comments[-1][2]
    assert [d.kind for d in liveness.dead_letters(engine)] == ["ticket"]


def test_a_failing_delivery_is_resent_with_backoff_not_every_tick(
    engine: Engine, tmp_path: Path
) -> None:
    assert record_delivery(engine, "d9", "issues", "labeled", "{}")
    liveness.record_failure(engine, "d9", "GitHubError: 502 Bad Gateway")  # its handling failed
    r, sent = _reconciler(engine, tmp_path)
    now = utcnow()
    dead_at = [m for m in range(0, 60) if r.run(now + timedelta(minutes=m))["dead_deliveries"]]
    resends = [s for s in sent if s == ("intake", "d9")]
    assert len(resends) == POLICY.max_delivery_attempts  # every tick would have been 60
    assert len(dead_at) == 1 and dead_at[0] > 7  # waits of 1, 2, 4 then 8 minutes


def test_closing_a_run_keeps_the_outcome_it_reached(engine: Engine, tmp_path: Path) -> None:
    t = upsert_ticket(engine, "o/r", 5, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(engine, t.id)
    run = start_run(engine, t.id, harness="h", model=None, branch="b")
    assert run is not None and run.id is not None
    r, _ = _reconciler(engine, tmp_path)
    r.run(utcnow() + timedelta(seconds=120))  # it never beat: lost
    from worker.store.repo import RunResult, finish_run

    late = finish_run(
        engine, run.id, RunResult(outcome=OutcomeKind.PR_OPENED, pr_url="u/1", pr_number=1)
    )
    assert late.kind == OutcomeKind.FAILED and "u/1" in late.detail


def test_a_lost_run_s_ticket_is_queued_again_in_the_same_transaction(
    engine: Engine, tmp_path: Path
) -> None:
    """The ticket never looks `failed` between closing the lost run and queueing it again: a
    Docker call in between (the sandbox stop) would show it, and a crash there would keep it."""
    t = upsert_ticket(engine, "o/r", 5, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(engine, t.id)
    run = start_run(engine, t.id, harness="h", model=None, branch="b")
    assert run is not None and run.id is not None
    liveness.begin(engine, run.id, deadline=utcnow() + timedelta(hours=1), worker="w")
    seen: list[TicketStatus | None] = []

    def stop_run(run_id: str, deployment: str) -> int:
        got = get_ticket(engine, t.id or 0)
        seen.append(None if got is None else got.status)
        raise SandboxError("Docker is away")

    r, sent = _reconciler(engine, tmp_path)
    assert isinstance(r.runtime, FakeRuntime)
    r.runtime.stop_run = stop_run  # type: ignore[method-assign]
    assert r.run(utcnow() + timedelta(seconds=120))["lost_runs"] == 1
    assert seen == [TicketStatus.QUEUED] and ("run", t.id) in sent


def test_a_run_finished_meanwhile_is_not_closed_as_lost(engine: Engine, tmp_path: Path) -> None:
    t = upsert_ticket(engine, "o/r", 6, title="t", body="b", url="u", labeled_by="a")
    assert t.id is not None and queue_ticket(engine, t.id)
    run = start_run(engine, t.id, harness="h", model=None, branch="b")
    assert run is not None and run.id is not None
    finish_run(engine, run.id, RunResult(outcome=OutcomeKind.NO_CHANGES, detail="x"))
    assert (
        liveness.close_lost_run(
            engine,
            run.id,
            RunResult(outcome=OutcomeKind.FAILED, detail="lost"),
            max_attempts=3,
            reason="r",
        )
        is None
    )
    got = get_ticket(engine, t.id)
    assert got is not None and got.status == TicketStatus.DONE
