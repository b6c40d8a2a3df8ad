"""`burndown report` as a user runs it: every format, an empty store, bad parameters."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scheduler.test_metrics import build
from tests.support.processes import burndown, child_env
from worker.store.db import make_engine
from worker.store.migrate import upgrade

PERIOD = ["--since", "2030-03-04", "--until", "2030-03-18"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return child_env({"BURNDOWN_DATA_DIR": str(tmp_path / "data")})


def built(env: dict[str, str]) -> dict[str, str]:
    url = f"sqlite:///{Path(env['BURNDOWN_DATA_DIR']) / 'burndown.db'}"
    upgrade(url)
    engine = make_engine(url)
    build(engine)
    engine.dispose()
    return env


def test_an_empty_store(env: dict[str, str]) -> None:
    out = burndown(["report"], env)
    assert "tickets: 0  runs: 0  pull requests opened: 0" in out
    assert "coverage: - of tickets handed" in out
    data = json.loads(burndown(["report", "--format", "json"], env))
    assert data["overall"]["handed"] == 0 and data["by_harness"] == {} and data["runs"] == []
    rows = list(csv.DictReader(io.StringIO(burndown(["report", "--format", "csv"], env))))
    assert rows[0]["section"] == "overall" and rows[0]["handed"] == "0"
    assert rows[0]["agent_coverage"] == ""


def test_every_format_on_the_built_history(env: dict[str, str]) -> None:
    built(env)
    table = burndown(["report", *PERIOD], env)
    assert "tickets: 7  runs: 8  pull requests opened: 5" in table
    assert "33.3% of issues closed (2 of 6)" in table and "claude-code vs codex" in table
    assert "acme/lib#5" in table and "pr_opened" in table

    data = json.loads(burndown(["report", "--format", "json", *PERIOD], env))
    assert data["overall"]["backlog_coverage"] == pytest.approx(1 / 3)
    assert set(data["by_harness"]) == {"claude-code", "codex"}
    assert list(data["by_week"]) == ["2030-03-04", "2030-03-11"]

    rows = list(csv.DictReader(io.StringIO(burndown(["report", "--format", "csv", *PERIOD], env))))
    by = {(r["section"], r["group"]): r for r in rows}
    assert by[("harness", "codex")]["funnel.merged"] == "2"
    assert by[("week", "2030-03-11")]["closed_in_period"] == "3"
    assert by[("harness", "codex")]["outcomes.failed"] == "0"

    html = burndown(["report", "--format", "html", *PERIOD], env)
    assert html.startswith("<!doctype html>") and 'data-chart="trend"' in html
    assert "<script src=" not in html and "<link " not in html  # one self-contained file

    codex = json.loads(
        burndown(
            ["report", "--format", "json", "--harness", "codex", "--repo", "acme/lib", *PERIOD], env
        )
    )
    assert (codex["overall"]["handed"], codex["overall"]["runs"]) == (2, 2)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--since", "last tuesday"], ["since", "not a date"]),
        (["--since", "2030-03-10", "--until", "2030-03-01"], ["before"]),
        (["--repo", "widgets"], ["owner/name"]),
        (["--format", "pdf"], ["pdf"]),
        (["--runs", "-3"], ["runs"]),
    ],
)
def test_bad_parameters_exit_2_saying_why(
    env: dict[str, str], args: list[str], words: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "report", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert all(w in said for w in words), said
    assert "Traceback" not in done.stderr
