"""`burndown harness list|run` and `burndown events`, through the real CLI (typer), the real
sandbox and the real store."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scheduler.cli import app
from tests.sandbox.harness_runner import MODEL, workspace
from tests.support.model_server import ScriptedModel, Turn, shell_turn
from tests.support.processes import bridge_gateway
from worker.logs import configure_logging
from worker.settings import get_settings
from worker.store.db import make_engine
from worker.store.migrate import upgrade
from worker.store.repo import NewEvent, append_events, queue_ticket, start_run, upsert_ticket


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in ("BURNDOWN_LITELLM_API_BASE", "BURNDOWN_MODEL", "BURNDOWN_HARNESS_MODELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BURNDOWN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BURNDOWN_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("BURNDOWN_LOG_JSON", "false")
    # structlog keeps the stream it was configured with: configure it here, on the real stderr,
    # before the CLI runs under CliRunner's streams (which close after each invocation)
    configure_logging(json=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_harness_list_names_every_harness_and_its_options(settings_env: None) -> None:
    out = CliRunner().invoke(app, ["harness", "list"])
    assert out.exit_code == 0, out.output
    rows = {line.split("\t")[0]: line for line in out.output.splitlines()}
    assert sorted(rows) == ["aider", "claude-code", "codex", "mini-swe-agent"]
    assert "max_budget_usd" in rows["claude-code"] and "max_turns" not in rows["codex"]


def test_harness_run_prints_the_unified_events_of_a_local_repository(
    settings_env: None, sandbox_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = workspace(tmp_path)
    script = [
        shell_turn(None, "sed -i s/helo/hello/ greeting.txt"),
        Turn(text="Fixed.", input_tokens=50, output_tokens=5),
    ]
    with ScriptedModel(script, host=bridge_gateway()) as model:
        monkeypatch.setenv("BURNDOWN_SANDBOX_IMAGE", sandbox_image)
        monkeypatch.setenv("BURNDOWN_OPENAI_BASE_URL", model.base_url)
        monkeypatch.setenv("BURNDOWN_OPENAI_API_KEY", "sk-test")
        get_settings.cache_clear()
        args = ["harness", "run", "codex", "--repo", str(repo), "--prompt", "fix the greeting"]
        out = CliRunner().invoke(app, [*args, "--model", MODEL, "--env", "FOO=bar"])
    assert out.exit_code == 0, out.output
    events = [json.loads(line) for line in out.stdout.splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "session_start" and "tool_call" in kinds and "usage" in kinds
    assert [e["data"]["status"] for e in events if e["kind"] == "result"] == ["success"]
    assert all("raw" in e for e in events)
    assert (repo / "greeting.txt").read_text() == "hello\n"


def test_harness_run_refuses_an_option_naming_harness_and_option(
    settings_env: None, tmp_path: Path
) -> None:
    repo = workspace(tmp_path)
    args = ["harness", "run", "aider", "--repo", str(repo), "--prompt", "x", "--max-turns", "3"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 1
    assert "harness 'aider' does not support the option 'max_turns'" in out.output


def test_events_exports_a_run_as_jsonl(settings_env: None, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    t = upsert_ticket(engine, "o/r", 1, title="t", body="b", url="u", labeled_by=None)
    assert t.id is not None and queue_ticket(engine, t.id)
    run = start_run(engine, t.id, harness="codex", model=None, branch="b")
    assert run is not None and run.id is not None
    raw = {"type": "turn.completed", "usage": {"input_tokens": 3}}
    append_events(
        engine,
        run.id,
        [
            NewEvent("harness", "usage", {"input_tokens": 3, "raw": raw}),
            NewEvent("pipeline", "stage", {"stage": "harness", "seconds": 1.5}),
        ],
    )
    engine.dispose()
    out = CliRunner().invoke(app, ["events", str(run.id)])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(e["seq"], e["source"], e["kind"]) for e in lines] == [
        (1, "harness", "usage"),
        (2, "pipeline", "stage"),
    ]
    assert lines[0]["data"]["raw"] == raw
    missing = CliRunner().invoke(app, ["events", "999"])
    assert missing.exit_code == 1 and "run 999 has no events" in missing.output
