"""The report over a large store against the time to just read the run rows, side by side.

    uv run python -m bench.report [--runs 100000] [--database-url URL] [--repeat 5] [--reference]

Builds a store (SQLite in a temporary folder unless --database-url names another, e.g. the
PostgreSQL of `eval "$(./scripts/services.sh)"`) with a deterministic history: tickets in
five repositories over a year, runs by three harnesses (about 2.5 per ticket), pull requests
merged, closed, reopened and reverted, and issues closed by people. Computes the weekly sums
from scratch once (timed), then, median of --repeat rounds, wall and CPU time: reading every
run row (`SELECT * FROM run`, all fetched), and the report (`store_report`: every metric,
grouping, week and comparison) for several filters, whole weeks and partial ones; a
`/metrics` scrape computed; the whole report again from the cache with nothing written; and
the refresh after one write. `--reference` also times the pure functions over every row once.
"""

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text

from scheduler.report.cache import ReportCache
from scheduler.report.fromstore import store_report
from scheduler.report.report import ReportQuery, build_report
from scheduler.report.weeks import refresh
from scheduler.web.prom import exposition
from tests.support.history import HistoryBuilder
from worker.store.db import make_engine
from worker.store.migrate import upgrade
from worker.store.models import AgentPull, ClosedIssue, Outcome, Run, Ticket
from worker.store.rollup import rebuild

REPOS = [f"bench/repo-{i}" for i in range(5)]
HARNESSES = [("claude-code", "sonnet"), ("codex", "gpt-5"), ("mini-swe-agent", "sonnet")]
LABELS = ["bug", "enhancement", "docs", "tests", "chore"]
START = datetime(2030, 1, 7, tzinfo=UTC)


def _chunks(rows: list[dict[str, Any]], size: int = 5000) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def populate(engine: Engine, runs: int, seed: int = 7) -> dict[str, int]:
    """A deterministic history with `runs` runs; returns the row counts written."""
    rnd = random.Random(seed)
    tickets, run_rows, outcomes, pulls, closed = [], [], [], [], []
    tid = rid = 0
    while rid < runs:
        tid += 1
        repo, number = rnd.choice(REPOS), tid
        created = START + timedelta(minutes=rnd.randrange(365 * 24 * 60))
        labels = rnd.sample(LABELS, rnd.randrange(0, 3))
        reopened = rnd.random() < 0.03
        tickets.append(
            {
                "id": tid,
                "provider": "github",
                "repo": repo,
                "number": number,
                "title": f"Issue {number}",
                "body": "",
                "url": f"https://github.test/{repo}/issues/{number}",
                "labeled_by": "maria",
                "status": "done",
                "attempts": 1,
                "queued_at": created,
                "created_at": created,
                "updated_at": created,
                "labels": json.dumps(labels),
                "issue_state": "open" if reopened else "closed",
                "issue_closed_at": None,
                "issue_reopened_at": created + timedelta(days=3) if reopened else None,
            }
        )
        pr = 100_000 + tid if rnd.random() < 0.7 else None
        for k in range(min(rnd.choice((1, 1, 2, 3, 4)), runs - rid)):
            rid += 1
            harness, model = rnd.choice(HARNESSES)
            started = created + timedelta(minutes=5 + 90 * k + rnd.randrange(30))
            kind = "pr_opened" if pr else rnd.choice(("failed", "no_changes"))
            cost = round(rnd.uniform(0.05, 3.0), 4) if rnd.random() < 0.95 else None
            run_rows.append(
                {
                    "id": rid,
                    "ticket_id": tid,
                    "harness": harness,
                    "model": model,
                    "branch": f"burndown/issue-{number}",
                    "status": "failed" if kind == "failed" else "succeeded",
                    "started_at": started,
                    "finished_at": started + timedelta(minutes=rnd.randrange(2, 40)),
                    "exit_code": 0,
                    "input_tokens": rnd.randrange(1_000, 400_000),
                    "output_tokens": rnd.randrange(100, 20_000),
                    "cached_tokens": 0,
                    "cost_usd": cost,
                    "pr_url": f"https://github.test/{repo}/pull/{pr}" if pr else None,
                    "pr_number": pr,
                    "error": None,
                }
            )
            outcomes.append(
                {
                    "run_id": rid,
                    "ticket_id": tid,
                    "kind": kind,
                    "detail": "",
                    "pr_url": None,
                    "created_at": started,
                }
            )
        if pr:
            fate = rnd.random()
            merged_at = created + timedelta(hours=rnd.randrange(2, 200))
            state = "merged" if fate < 0.6 else "closed" if fate < 0.8 else "open"
            pulls.append(
                {
                    "repo": repo,
                    "number": pr,
                    "state": state,
                    "opened_at": created,
                    "closed_at": merged_at if state != "open" else None,
                    "merged_at": merged_at if state == "merged" else None,
                    "merge_commit_sha": None,
                    "head_sha": None,
                    "reopened_count": 1 if rnd.random() < 0.05 else 0,
                    "reverted_at": merged_at + timedelta(days=2)
                    if state == "merged" and rnd.random() < 0.04
                    else None,
                    "revert_sha": None,
                    "observed_at": merged_at,
                    "updated_at": merged_at,
                }
            )
        if rnd.random() < 0.8 and not reopened:
            closed.append(
                {
                    "repo": repo,
                    "number": number,
                    "closed_at": created + timedelta(hours=rnd.randrange(1, 300)),
                    "labels": json.dumps(labels),
                }
            )
    for n in range(len(tickets) // 2):  # issues closed by people, never handed to the agent
        closed.append(
            {
                "repo": rnd.choice(REPOS),
                "number": 1_000_000 + n,
                "closed_at": START + timedelta(minutes=rnd.randrange(365 * 24 * 60)),
                "labels": "[]",
            }
        )
    with engine.begin() as conn:
        for table, rows in (
            (Ticket, tickets),
            (Run, run_rows),
            (Outcome, outcomes),
            (AgentPull, pulls),
            (ClosedIssue, closed),
        ):
            for chunk in _chunks(rows):
                conn.execute(insert(table.__table__), chunk)  # type: ignore[attr-defined]
        rebuild(conn)  # rows written directly: the rollup the store's writes keep
    return {
        "tickets": len(tickets),
        "runs": len(run_rows),
        "pull requests": len(pulls),
        "closed issues": len(closed),
    }


def settle(engine: Engine) -> None:
    """Statistics and visibility as autovacuum would leave them, so that it does not run in
    the middle of the timings (on PostgreSQL it starts right after a bulk load)."""
    pg = engine.dialect.name == "postgresql"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if pg else "ANALYZE"))


def read_runs(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(Run.__table__)).all())  # type: ignore[attr-defined]


def timed(fn: Any, repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (on SQLite, the database's work
    too: it runs in-process; on a shared host the steadier figure)."""
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def _line(name: str, t: tuple[float, float], read: tuple[float, float] | None = None) -> None:
    ratio = f"   x{t[0] / read[0]:.2f} the read (cpu x{t[1] / read[1]:.2f})" if read else ""
    print(f"  {name:<44} {t[0]:7.3f} s  cpu {t[1]:6.3f} s{ratio}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--reference", action="store_true", help="also time the pure reference")
    args = ap.parse_args()
    url = (
        args.database_url
        or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-report-')) / 'store.db'}"
    )
    upgrade(url)
    engine = make_engine(url)
    t0 = time.perf_counter()
    counts = populate(engine, args.runs)
    settle(engine)
    print(
        f"store: {url.split('://')[0]}; built in {time.perf_counter() - t0:.1f} s: "
        + ", ".join(f"{v:,} {k}" for k, v in counts.items())
    )
    assert read_runs(engine) == counts["runs"]
    t0 = time.perf_counter()
    weeks = refresh(engine)  # every week is new: the weekly sums from scratch, once
    print(f"weekly sums of {weeks} weeks from scratch: {time.perf_counter() - t0:.3f} s (once)")
    now, n = START + timedelta(days=400), args.repeat
    print(f"median of {n}: wall, and this process's CPU")
    read = timed(lambda: read_runs(engine), n)
    _line(f"read {counts['runs']:,} run rows", read)
    queries = {
        "the whole report": ReportQuery(runs_shown=20),
        "since a Wednesday noon (a partial week)": ReportQuery(START + timedelta(days=30.5)),
        "3 months, partial weeks at both ends": ReportQuery(
            START + timedelta(days=40, hours=7), START + timedelta(days=131, hours=3)
        ),
        "one repository": ReportQuery(repo=REPOS[1]),
        "one harness": ReportQuery(harness="codex"),
        "one month, repository and harness": ReportQuery(
            START + timedelta(days=100), START + timedelta(days=130), REPOS[0], "codex"
        ),
    }
    for name, query in queries.items():
        _line(name, timed(lambda q=query: store_report(engine, q, now=now), n), read)  # type: ignore[misc]
    _line("/metrics (computed, not cached)", timed(lambda: exposition(engine, now), n), read)
    stamp = ReportCache(engine)
    stamp.get("whole", lambda: store_report(engine, ReportQuery(), now=now))
    cached = timed(lambda: stamp.get("whole", lambda: None), n)
    _line("the whole report again, nothing written", cached, read)
    HistoryBuilder(engine).closed_issue(REPOS[0], 9_999_999, START + timedelta(days=200))
    after = timed(lambda: refresh(engine), 1)
    _line("after one write: its week recomputed", after)
    if args.reference:
        ref = timed(lambda: build_report(engine, ReportQuery(), now=now), 1)
        _line("reference (the pure functions, every row)", ref, read)
    r = store_report(engine, ReportQuery(), now=now)
    print(
        f"(report: {r.overall.handed:,} tickets, {r.overall.runs:,} runs, "
        f"{len(r.by_week)} weeks, {len(r.comparisons)} harness pairs, "
        f"backlog coverage {r.overall.backlog_coverage:.3f})"
    )
    engine.dispose()


if __name__ == "__main__":
    main()
