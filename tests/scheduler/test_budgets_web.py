"""Spend against each budget, and the tickets a spent budget holds: on the dashboard
(`/budgets`, `/api/budgets`) and in `burndown report`."""

import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from scheduler.web.app import create_app
from tests.support.processes import burndown, child_env
from worker.spend import Budgets, set_held
from worker.store.db import make_engine
from worker.store.migrate import upgrade
from worker.store.models import OutcomeKind
from worker.store.repo import RunResult, finish_run, queue_ticket, start_run, upsert_ticket


def spend(engine: Engine, repo: str, number: int, usd: float) -> int:
    t = upsert_ticket(engine, repo, number, title="t", body="", url="u", labeled_by="a")
    assert t.id is not None
    queue_ticket(engine, t.id)
    run = start_run(engine, t.id, harness="codex", model="m", branch="b")
    assert run is not None and run.id is not None
    finish_run(engine, run.id, RunResult(outcome=OutcomeKind.NO_CHANGES, cost_usd=usd))
    return t.id


def held(engine: Engine, repo: str, number: int, reason: str) -> None:
    t = upsert_ticket(engine, repo, number, title="t", body="", url="u", labeled_by="a")
    assert t.id is not None
    queue_ticket(engine, t.id)
    set_held(engine, t.id, reason)


def test_the_dashboard_shows_spend_against_each_budget_and_the_held_tickets(
    engine: Engine,
) -> None:
    spend(engine, "a/one", 1, 1.5)
    spend(engine, "b/two", 2, 0.25)
    held(engine, "a/one", 3, "waits: the repo daily budget of a/one is spent")
    budgets = Budgets(daily_usd=10.0, repo_daily_usd=1.0)
    app = create_app(
        engine=engine,
        webhook_secret="s",
        trigger_label="burndown",
        enqueue_deliveries=print,
        budgets=budgets,
        operator_token="t0ken-for-budgets",
    )
    client = TestClient(app, headers={"Authorization": "Bearer t0ken-for-budgets"})
    data = client.get("/api/budgets").json()
    by = {(b["budget"], b["repo"]): (b["spent_usd"], b["spent"]) for b in data["budgets"]}
    assert by == {
        ("daily", None): (1.75, False),
        ("repo daily", "a/one"): (1.5, True),
        ("repo daily", "b/two"): (0.25, False),
    }
    assert [(h["repo"], h["number"]) for h in data["held"]] == [("a/one", 3)]
    page = client.get("/budgets").text
    assert "a/one#3: waits: the repo daily budget of a/one is spent" in page
    assert "<td>$1.50</td><td>$1.00</td><td>spent</td>" in page


def test_burndown_report_shows_spend_against_each_budget(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'burndown.db'}"
    upgrade(url)
    engine = make_engine(url)
    spend(engine, "a/one", 1, 0.5)
    engine.dispose()
    env = child_env({"BURNDOWN_DATA_DIR": str(data_dir), "BURNDOWN_BUDGET_MONTHLY_USD": "2"})
    out = burndown(["report"], env)
    assert "budget monthly: $0.50 of $2.00 (ok; starts again" in out
    budgets = json.loads(burndown(["report", "--format", "json"], env))["budgets"]
    assert [(b["budget"], b["spent_usd"], b["cap_usd"]) for b in budgets["budgets"]] == [
        ("monthly", 0.5, 2.0)
    ]
