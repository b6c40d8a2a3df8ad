"""The JSON API, the dashboard pages and /metrics through the real app and store: an empty
store, bad parameters (a 4xx with a message, never a 500), and the built history."""

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from scheduler.web.app import create_app
from tests.scheduler.test_metrics import build
from tests.support.history import HistoryBuilder
from worker.store.repo import NewEvent, append_events

PERIOD = "since=2030-03-04&until=2030-03-18"
TOKEN = "operator-token-for-tests"


@pytest.fixture
def client(engine: Engine) -> TestClient:
    app = create_app(
        engine=engine,
        webhook_secret="s",
        trigger_label="burndown",
        enqueue_deliveries=print,
        operator_token=TOKEN,
    )
    return TestClient(
        app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {TOKEN}"}
    )


def test_an_empty_store_answers_empty(client: TestClient) -> None:
    summary = client.get("/api/summary")
    assert summary.status_code == 200
    overall = summary.json()["overall"]
    assert (overall["handed"], overall["runs"], overall["prs_opened"]) == (0, 0, 0)
    assert overall["agent_coverage"] is None and overall["cost_per_merged_pr"] is None
    assert client.get("/api/tickets").json() == {"total": 0, "tickets": []}
    assert client.get("/api/metrics?group_by=harness").json()["groups"] == {}
    assert client.get("/api/compare").json() == {"comparisons": []}
    weeks = client.get(f"/api/trend?{PERIOD}").json()["weeks"]
    assert [w["week"] for w in weeks] == ["2030-03-04", "2030-03-11"]
    assert all(w["backlog_coverage"] is None for w in weeks)
    assert client.get("/api/report").json()["runs"] == []
    page = client.get("/")
    assert page.status_code == 200 and 'data-empty="store"' in page.text
    assert 'data-empty="tickets"' in client.get("/tickets").text
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert list(text_string_to_metric_families(metrics.text))  # parseable, families present
    missing = client.get("/api/runs/1")
    assert missing.status_code == 404 and missing.json() == {"message": "no run 1"}
    assert client.get("/runs/1").status_code == 404


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/api/summary?since=yesterday", ["since", "not a date"]),
        ("/api/summary?since=2030-02-30", ["since"]),
        ("/api/summary?since=2030-03-10&until=2030-03-01", ["before"]),
        ("/api/summary?repo=just-a-name", ["repo", "owner/name"]),
        ("/api/metrics?group_by=colour", ["group_by", "harness"]),
        ("/api/metrics", ["group_by", "required"]),
        ("/api/tickets?limit=0", ["limit"]),
        ("/api/tickets?limit=many", ["limit", "integer"]),
        ("/api/tickets?status=sleepy", ["status", "resolved"]),
        ("/api/report?runs=-1", ["runs"]),
        ("/api/runs/abc", ["run_id", "integer"]),
    ],
)
def test_bad_parameters_are_a_400_that_says_why(
    client: TestClient, path: str, words: list[str]
) -> None:
    r = client.get(path)
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert all(w in message for w in words), message


@pytest.mark.parametrize("path", ["/?since=never", "/tickets?status=sleepy", "/runs/abc"])
def test_bad_parameters_on_pages_are_a_400_page(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "Bad request" in r.text


def test_assets_are_served_locally(client: TestClient) -> None:
    page = client.get("/").text
    assert '<script src="/static/chart.js">' in page and "http" not in page.split("<main>")[0]
    js = client.get("/static/chart.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/secrets.env").status_code == 404


def test_the_api_on_the_built_history(client: TestClient, engine: Engine) -> None:
    build(engine)
    overall = client.get(f"/api/summary?{PERIOD}").json()["overall"]
    assert (overall["handed"], overall["resolved"], overall["prs_reverted"]) == (7, 2, 1)
    assert overall["backlog_coverage"] == pytest.approx(1 / 3)
    groups = client.get(f"/api/metrics?group_by=harness&{PERIOD}").json()["groups"]
    assert groups["codex"]["funnel"] == {"labeled": 3, "run": 3, "pull_request": 3, "merged": 2}
    only = client.get(f"/api/summary?{PERIOD}&repo=acme/lib&harness=codex").json()["overall"]
    assert (only["handed"], only["runs"]) == (2, 2)
    tickets = client.get(f"/api/tickets?{PERIOD}").json()
    statuses = {t["ref"]: t["status"] for t in tickets["tickets"]}
    assert statuses == {
        "acme/app#1": "resolved",
        "acme/app#2": "pr_open",
        "acme/app#3": "reverted",
        "acme/lib#4": "reopened",
        "acme/lib#5": "resolved",
        "acme/app#6": "done",
        "acme/app#7": "done",
    }
    resolved = client.get(f"/api/tickets?{PERIOD}&status=resolved&limit=1").json()
    assert resolved["total"] == 2 and len(resolved["tickets"]) == 1
    (c,) = client.get(f"/api/compare?{PERIOD}").json()["comparisons"]
    assert (c["a"], c["b"], c["tickets"]) == ("claude-code", "codex", 2)
    page = client.get(f"/tickets?{PERIOD}").text
    assert 'href="https://github.test/acme/app/pull/103"' in page and 'href="/runs/4"' in page

    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    runs = {
        (s.labels["repo"], s.labels["harness"], s.labels["outcome"]): s.value
        for s in families["burndown_runs"].samples
    }
    assert runs[("acme/app", "claude-code", "failed")] == 1
    assert runs[("acme/lib", "codex", "pr_opened")] == 2
    pulls = {
        (s.labels["repo"], s.labels["state"]): s.value
        for s in families["burndown_pull_requests"].samples
    }
    assert pulls[("acme/app", "reverted")] == 1 and pulls[("acme/lib", "merged")] == 2
    cost = {s.labels["harness"]: s.value for s in families["burndown_cost_usd"].samples}
    assert cost == {"claude-code": 3.5, "codex": 7.0}


def test_a_run_page_shows_the_unified_transcript(client: TestClient, engine: Engine) -> None:
    h = HistoryBuilder(engine)
    t = h.ticket("acme/app", 1, datetime(2030, 3, 4, tzinfo=UTC))
    run_id = h.run(t, datetime(2030, 3, 4, 1, tzinfo=UTC), repo="acme/app", pr_number=9)
    append_events(
        engine,
        run_id,
        [
            NewEvent("pipeline", "stage", {"stage": "clone", "seconds": 0.5}),
            NewEvent(
                "harness", "assistant_text", {"text": "I'll fix <the> typo.", "raw": {"x": 1}}
            ),
            NewEvent(
                "harness", "tool_call", {"name": "Bash", "input": {"command": "sed -i s/a/b/ f"}}
            ),
            NewEvent("harness", "tool_result", {"output": "x" * 5000}),
            NewEvent("harness", "result", {"status": "success", "text": "Fixed."}),
        ],
    )
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    text = page.text
    order = [
        "stage · clone",
        "I&#x27;ll fix &lt;the&gt; typo.",
        "tool call · Bash",
        "sed -i",
        "Fixed.",
    ]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert "(5000 characters)" in text and "&quot;raw&quot;" not in text
    assert 'href="https://github.test/acme/app/pull/9"' in text
    data = client.get(f"/api/runs/{run_id}").json()
    assert [e["kind"] for e in data["events"]] == [
        "stage",
        "assistant_text",
        "tool_call",
        "tool_result",
        "result",
    ]
    assert data["events"][3]["data"]["output"] == "x" * 5000 and data["outcome"] == "pr_opened"
    assert json.dumps(data)  # plain JSON
