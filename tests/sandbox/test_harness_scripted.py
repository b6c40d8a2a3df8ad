"""The scripted harness, played in this process by a fake runtime: its actions become the same
unified events an adapter gives, through the same `run_harness` as the pipeline's; its limits
and its endings (a status of its own, a crash without a result) are real."""

from pathlib import Path

import pytest

from sandbox.errors import HarnessError
from sandbox.fakes import FakeRuntime
from sandbox.harness.events import EventKind, HarnessEvent, ResultStatus, cost_of, usage_of
from sandbox.harness.protocol import HarnessOptions, ModelAccess
from sandbox.harness.run import HarnessJob, HarnessRun, run_harness
from sandbox.harness.scripted import (
    SCRIPT_ENV,
    Exit,
    Finish,
    Output,
    ReportUsage,
    Run,
    Say,
    Script,
    ScriptedHarness,
    Write,
    play_in_process,
)
from sandbox.runtime import SandboxPolicy

K = EventKind


def play(
    tmp_path: Path, script: Script | None, options: HarnessOptions | None = None
) -> HarnessRun:
    job = HarnessJob(
        harness=ScriptedHarness(script) if script else "scripted",
        prompt="fix it",
        image="img",
        workspace=tmp_path,
        policy=SandboxPolicy(),
        options=options or HarnessOptions(),
        models=ModelAccess(),
        user="1:1",
    )
    return run_harness(FakeRuntime(play_in_process), job)


def kinds(events: list[HarnessEvent]) -> list[EventKind]:
    return [e.kind for e in events]


def test_a_script_writes_runs_says_and_reports(tmp_path: Path) -> None:
    script = Script(
        actions=[
            Write(path="src/a.txt", content="hello\n"),
            Run(command="cat src/a.txt; echo oops >&2; exit 3"),
            ReportUsage(input_tokens=100, output_tokens=20, cost_usd=0.01),
            Say(text="Done."),
        ]
    )
    done = play(tmp_path, script, HarnessOptions(model="m", extra_system_prompt="Be brief."))
    assert (tmp_path / "src" / "a.txt").read_text() == "hello\n"
    assert kinds(done.events) == [
        K.SESSION_START,
        K.TOOL_CALL,
        K.TOOL_RESULT,
        K.FILE_CHANGE,
        K.TOOL_CALL,
        K.TOOL_RESULT,
        K.USAGE,
        K.COST,
        K.ASSISTANT_TEXT,
        K.RESULT,
    ]
    start, write = done.events[0], done.events[1]
    assert start.data["model"] == "m" and isinstance(start.raw, dict)
    assert start.raw["prompt"] == "fix it" and start.raw["system_prompt"] == "Be brief."
    assert write.data["name"] == "write" and write.data["input"] == {"path": "src/a.txt"}
    ran = done.events[5].data
    assert ran["output"] == "hello\noops\n" and ran["is_error"] is True
    usage = usage_of(done.events)
    assert usage is not None and usage.input_tokens == 100 and cost_of(done.events) == 0.01
    assert done.problem() is None and done.final_text == "Done." and done.succeeded


def test_usage_without_a_cost_is_priced_like_any_harness_s(tmp_path: Path) -> None:
    script = Script(actions=[ReportUsage(input_tokens=1_000_000)])
    done = play(tmp_path, script, HarnessOptions(model="gpt-5.5"))
    assert done.events[-1].data == {"usd": 1.25, "source": "price_table", "model": "gpt-5.5"}


def test_a_finish_status_and_a_crash_are_what_the_pipeline_sees(tmp_path: Path) -> None:
    done = play(tmp_path, Script(actions=[Finish(status=ResultStatus.BUDGET, text="broke")]))
    assert done.exit.exit_code == 1 and not done.succeeded
    assert done.problem() == "the harness ended with status budget: broke"
    crashed = play(tmp_path, Script(actions=[Say(text="bye"), Exit(code=139)]))
    assert crashed.exit.exit_code == 139
    assert [e.data["status"] for e in crashed.events if e.kind == K.RESULT] == ["error"]


def test_the_turn_and_budget_limits_stop_the_script(tmp_path: Path) -> None:
    writes = [Write(path=f"f{i}", content="x") for i in range(5)]
    done = play(tmp_path, Script(actions=writes), HarnessOptions(max_turns=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0", "f1"]
    assert done.events[-1].data["status"] == ResultStatus.MAX_TURNS
    spend = [ReportUsage(cost_usd=0.4), ReportUsage(cost_usd=0.8), Say(text="never")]
    done = play(tmp_path, Script(actions=spend), HarnessOptions(max_budget_usd=1.0))
    assert done.events[-1].data["status"] == ResultStatus.BUDGET
    assert K.ASSISTANT_TEXT not in kinds(done.events)


def test_output_prints_exactly_the_bytes_asked_for(tmp_path: Path) -> None:
    done = play(tmp_path, Script(actions=[Output(bytes=2500, line_bytes=1000)]))
    noise = [e.data["text"] for e in done.events if e.kind == K.UNPARSED]
    assert sum(len(t) + 1 for t in noise) == 2500 and len(noise) == 3


def test_a_run_started_by_name_takes_its_script_from_the_extra_environment(
    tmp_path: Path,
) -> None:
    script = Script(actions=[Say(text="from env")]).model_dump_json()
    done = play(tmp_path, None, HarnessOptions(extra_env={SCRIPT_ENV: script}))
    assert done.final_text == "from env"
    with pytest.raises(HarnessError, match="needs a script"):
        play(tmp_path, None)
    with pytest.raises(HarnessError, match="is not a script"):
        play(tmp_path, None, HarnessOptions(extra_env={SCRIPT_ENV: '[{"type": "dance"}]'}))


def test_options_it_cannot_honour_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="'scripted' does not support the option 'allowed"):
        play(tmp_path, Script(), HarnessOptions(allowed_tools=["Bash"]))
