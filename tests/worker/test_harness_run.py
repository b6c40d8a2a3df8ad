"""A harness run recorded in the store (`worker.agent`): every unified event as it streams,
the egress proxy's refusals, and the stage timings, for the agent and the reviewer alike. The
scripted harness plays the run in this process through a fake runtime, into a real store."""

import json
from pathlib import Path

from sqlalchemy import Engine

from sandbox.fakes import FakeRuntime
from sandbox.harness.protocol import HarnessOptions, ModelAccess
from sandbox.harness.run import HarnessJob
from sandbox.harness.scripted import Say, Script, ScriptedHarness, Write, play_in_process
from sandbox.runtime import ContainerSpec, EgressEvent, SandboxPolicy
from worker.agent import run_recorded
from worker.events import EventRecorder
from worker.store.repo import queue_ticket, run_events, start_run, upsert_ticket


def a_run(engine: Engine) -> int:
    t = upsert_ticket(engine, "o/r", 1, title="t", body="b", url="u", labeled_by=None)
    assert t.id is not None and queue_ticket(engine, t.id)
    run = start_run(engine, t.id, harness="scripted", model=None, branch="b")
    assert run is not None and run.id is not None
    return run.id


def job(tmp_path: Path) -> HarnessJob:
    script = Script(actions=[Write(path="a.txt", content="x"), Say(text="Done.")])
    return HarnessJob(
        harness=ScriptedHarness(script),
        prompt="p",
        image="img",
        workspace=tmp_path,
        policy=SandboxPolicy(),
        options=HarnessOptions(),
        models=ModelAccess(),
        run_id="7",
        deployment="d",
        user="1:1",
    )


def test_events_refusals_and_stages_are_recorded(sqlite_engine: Engine, tmp_path: Path) -> None:
    run_id = a_run(sqlite_engine)
    refused = EgressEvent(event="refused", method="CONNECT", host="evil.example", port=443)
    runtime = FakeRuntime(play_in_process, egress=[refused])
    rec = EventRecorder(sqlite_engine, run_id)
    done = run_recorded(runtime, job(tmp_path), rec)
    rec.flush()
    rows = [(r.source, r.kind, json.loads(r.data)) for r in run_events(sqlite_engine, run_id)]
    harness = [kind for source, kind, _ in rows if source == "harness"]
    assert harness == [str(e.kind) for e in done.events]
    assert harness[0] == "session_start" and harness[-1] == "result"
    stages = [data["stage"] for _, kind, data in rows if kind == "stage"]
    assert stages == ["first_event", "container_start", "harness"]
    (egress,) = [data for source, _, data in rows if source == "sandbox"]
    assert egress["host"] == "evil.example"
    (spec,) = runtime.specs
    assert isinstance(spec, ContainerSpec) and spec.labels == {
        "org.burndown.run-id": "7",
        "org.burndown.deployment": "d",
    }


def test_a_reviewer_run_is_recorded_under_its_own_source(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    run_id = a_run(sqlite_engine)
    rec = EventRecorder(sqlite_engine, run_id)
    run_recorded(FakeRuntime(play_in_process), job(tmp_path), rec, source="review")
    rec.flush()
    rows = run_events(sqlite_engine, run_id)
    assert {r.source for r in rows} == {"review", "pipeline"}
    stages = [json.loads(r.data)["stage"] for r in rows if r.kind == "stage"]
    assert stages == ["review_first_event", "review"]
