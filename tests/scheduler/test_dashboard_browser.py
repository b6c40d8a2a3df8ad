"""The dashboard in a real headless Chromium, served by the real `burndown api` process on
the built history: the chart draws from the local script, the numbers on the page are the
JSON API's, no script error; screenshots are kept under artifacts/."""

from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.scheduler.test_metrics import build
from tests.support.browser import load, screenshot
from tests.support.processes import child_env, free_port, healthy, process, wait_for
from worker.store.db import make_engine
from worker.store.migrate import upgrade
from worker.store.repo import NewEvent, append_events

ARTIFACTS = REPO_ROOT / "artifacts"
PERIOD = "since=2030-03-04&until=2030-03-18"


class Page(HTMLParser):
    """What the test reads off the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: dict[str, str] = {}
        self.funnel: dict[str, str] = {}
        self.groups: dict[str, dict[str, dict[str, str]]] = {}
        self.chart: dict[str, str | None] = {}
        self.points: list[dict[str, str | None]] = []
        self.kinds: list[str] = []
        self._open: tuple[str, str] | None = None
        self._by: str | None = None
        self._group: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-by"):
            self._by = a["data-by"]
            self.groups[self._by or ""] = {}
        if tag == "tr" and a.get("data-group") and self._by:
            self._group = a["data-group"]
            self.groups[self._by][self._group or ""] = {}
        if a.get("data-metric"):
            self._open = ("metric", a["data-metric"] or "")
        if a.get("data-funnel"):
            self._open = ("funnel", a["data-funnel"] or "")
        if a.get("data-chart") == "trend":
            self.chart = a
        if tag == "circle":
            self.points.append(a)
        if a.get("data-kind") and "event" in (a.get("class") or ""):
            self.kinds.append(a["data-kind"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._by = None

    def handle_data(self, data: str) -> None:
        if self._open is None:
            return
        kind, key = self._open
        if kind == "funnel":
            self.funnel[key] = data
        elif self._by and self._group:
            self.groups[self._by][self._group][key] = data
        else:
            self.metrics[key] = data
        self._open = None


def parse(dom: str) -> Page:
    p = Page()
    p.feed(dom)
    return p


def shown(key: str, value: Any) -> str:
    """How the page should show an API value (written out here, not imported)."""
    if value is None:
        return "-"
    if "coverage" in key or key == "merge_rate":
        return f"{value * 100:.1f}%"
    if key.startswith("cost"):
        return f"${value:.2f}"
    if key.endswith("_hours"):
        return f"{value:.1f} h"
    return f"{value:,.0f}" if isinstance(value, float) else f"{value:,}"


def value(metrics: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        metrics = metrics[part]
    return metrics


TOKEN = "operator-token-for-the-browser"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def signed_in(base: str, path: str) -> str:
    """A URL that signs the browser in (the session cookie), then shows `path`."""
    return f"{base}/login?" + urlencode({"token": TOKEN, "next": path})


@pytest.fixture
def served(tmp_path: Path) -> Any:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'burndown.db'}"
    upgrade(url)
    engine = make_engine(url)
    build(engine)
    append_events(
        engine,
        1,
        [
            NewEvent("pipeline", "stage", {"stage": "clone", "seconds": 0.4}),
            NewEvent("harness", "assistant_text", {"text": "I'll fix the typo."}),
            NewEvent("harness", "tool_call", {"name": "Bash", "input": {"command": "sed -i"}}),
            NewEvent("harness", "result", {"status": "success", "text": "Fixed."}),
        ],
    )
    engine.dispose()
    port = free_port()
    env = child_env({"BURNDOWN_DATA_DIR": str(data), "BURNDOWN_OPERATOR_TOKEN": TOKEN})
    log = tmp_path / "api.log"
    with process(["api", "--port", str(port)], env, log):
        base = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: healthy(f"{base}/healthz"), 60, [log])
        yield base


def test_the_dashboard_in_chromium(served: str) -> None:
    loaded = load(signed_in(served, f"/?{PERIOD}"))
    page = parse(loaded.dom)
    assert "Uncaught" not in loaded.console, loaded.console[-2000:]

    overall = httpx.get(f"{served}/api/summary?{PERIOD}", timeout=30, headers=AUTH).json()[
        "overall"
    ]
    assert page.metrics and all(
        text == shown(key, value(overall, key)) for key, text in page.metrics.items()
    ), (page.metrics, overall)
    assert page.metrics["backlog_coverage"] == "33.3%"
    funnel = overall["funnel"]
    assert page.funnel == {
        "labeled": str(funnel["labeled"]),
        "run": str(funnel["run"]),
        "pull request": str(funnel["pull_request"]),
        "merged": str(funnel["merged"]),
    }

    weeks = httpx.get(f"{served}/api/trend?{PERIOD}", timeout=30, headers=AUTH).json()["weeks"]
    assert page.chart.get("data-drawn") == "true"
    drawn = {(p["data-series"], p["data-week"]): float(p["data-value"] or 0) for p in page.points}
    expected = {
        (series, w["week"]): w[series]
        for w in weeks
        for series in ("agent_coverage", "backlog_coverage")
        if w[series] is not None
    }
    assert drawn == pytest.approx(expected) and len(drawn) == 4
    assert page.chart.get("data-points") == "4"

    groups = httpx.get(
        f"{served}/api/metrics?group_by=harness&{PERIOD}", timeout=30, headers=AUTH
    ).json()
    table = page.groups["harness"]
    assert set(table) == set(groups["groups"]) == {"claude-code", "codex"}
    for harness, cells in table.items():
        for key, text in cells.items():
            assert text == shown(key, value(groups["groups"][harness], key)), (harness, key)

    path = screenshot(signed_in(served, f"/?{PERIOD}"), ARTIFACTS / "dashboard.png")
    assert path.stat().st_size > 10_000


def test_the_ticket_list_and_a_run_page_in_chromium(served: str) -> None:
    tickets = load(signed_in(served, f"/tickets?{PERIOD}"))
    assert 'href="/runs/1"' in tickets.dom and "/acme/app/pull/101" in tickets.dom
    run = load(signed_in(served, "/runs/1"))
    assert parse(run.dom).kinds == ["stage", "assistant_text", "tool_call", "result"]
    screenshot(signed_in(served, "/runs/1"), ARTIFACTS / "run.png", height=900)
    screenshot(signed_in(served, f"/tickets?{PERIOD}"), ARTIFACTS / "tickets.png", height=900)
