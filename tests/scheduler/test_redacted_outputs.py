"""Defence in depth: rows stored before redaction (or by anything else) still never show a held
secret value: the transcript page, `/api/runs/{id}` and `burndown events` redact on output."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from scheduler.cli import app
from scheduler.web.app import create_app
from worker.logs import configure_logging
from worker.secrets_scan import SecretScanner
from worker.settings import get_settings
from worker.store.db import make_engine
from worker.store.migrate import upgrade
from worker.store.models import OutcomeKind
from worker.store.repo import (
    NewEvent,
    RunResult,
    append_events,
    finish_run,
    queue_ticket,
    start_run,
    upsert_ticket,
)

VALUE = "ghp_" + "A" * 36  # a GitHub token's shape; the exact value is what must not show
TOKEN = "operator-token-for-tests"


def a_run_holding_the_value(engine: Engine) -> int:
    t = upsert_ticket(engine, "o/r", 1, title=f"t {VALUE}", body="b", url="u", labeled_by=None)
    assert t.id is not None and queue_ticket(engine, t.id)
    run = start_run(engine, t.id, harness="codex", model=None, branch="b")
    assert run is not None and run.id is not None
    events = [
        NewEvent("harness", "message", {"text": f"token is {VALUE}", "raw": {VALUE: [VALUE]}}),
        NewEvent("harness", "tool_call", {"name": "Bash", "input": {"command": f"echo {VALUE}"}}),
    ]
    append_events(engine, run.id, events)
    detail = f"stopped: {VALUE}"
    finish_run(engine, run.id, RunResult(outcome=OutcomeKind.FAILED, detail=detail))
    return run.id


def test_the_api_and_the_transcript_page_redact_held_values(engine: Engine) -> None:
    run_id = a_run_holding_the_value(engine)
    web = create_app(
        engine=engine,
        webhook_secret="s",
        trigger_label="burndown",
        enqueue_deliveries=print,
        operator_token=TOKEN,
        secrets=SecretScanner({"BURNDOWN_GITHUB_TOKEN": VALUE}),
    )
    client = TestClient(web, headers={"Authorization": f"Bearer {TOKEN}"})
    api = client.get(f"/api/runs/{run_id}")
    page = client.get(f"/runs/{run_id}")
    assert api.status_code == page.status_code == 200
    for text in (api.text, page.text):
        assert VALUE not in text and "***" in text
    data = api.json()
    assert data["events"][0]["data"] == {"text": "token is ***", "raw": {"***": ["***"]}}
    assert data["detail"] == "stopped: ***" and data["ticket"]["title"] == "t ***"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("BURNDOWN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BURNDOWN_DATABASE_URL", url)
    monkeypatch.setenv("BURNDOWN_LOG_JSON", "false")
    monkeypatch.setenv("BURNDOWN_GITHUB_TOKEN", VALUE)
    configure_logging(json=False)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_burndown_events_redacts_held_values(cli_env: str) -> None:
    upgrade(cli_env)
    engine = make_engine(cli_env)
    run_id = a_run_holding_the_value(engine)
    engine.dispose()
    out = CliRunner().invoke(app, ["events", str(run_id)])
    assert out.exit_code == 0, out.output
    assert VALUE not in out.stdout
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines[0]["data"] == {"text": "token is ***", "raw": {"***": ["***"]}}
    assert lines[1]["data"]["input"] == {"command": "echo ***"}
