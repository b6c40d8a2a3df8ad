"""The report from the database's sums (`fromstore`) equals the reference, the pure functions
over every row (`report_of`), on random histories, for any period, repository and harness,
on SQLite and PostgreSQL. Sums of costs may differ in the last bits (the database adds them
in its own order); every other number is equal."""

import random

from sqlalchemy import Engine

from scheduler.report.attribution import derive
from scheduler.report.fromstore import store_grouped, store_metrics, store_report
from scheduler.report.history import load_history
from scheduler.report.metrics import grouped, metrics
from scheduler.report.report import ReportQuery, report_of
from tests.support.history import NOW, REPOS, START, build_random, random_moment
from tests.support.same import same


def _queries(rnd: random.Random) -> list[ReportQuery]:
    out = [ReportQuery(runs_shown=15)]
    for _ in range(7):
        since = rnd.choice((None, random_moment(rnd)))
        until = rnd.choice((None, random_moment(rnd, 70)))
        if since and until and since >= until:
            since, until = until, since
        out.append(
            ReportQuery(
                since=since,
                until=until,
                repo=rnd.choice((None, None, *REPOS)),
                harness=rnd.choice((None, None, "codex", "claude-code", "aider", "nobody")),
                runs_shown=rnd.choice((0, 5, 50)),
            )
        )
    return out


def test_the_store_report_equals_the_reference_on_random_histories(engine: Engine) -> None:
    for seed in (1, 2, 3):
        build_random(engine, seed)
        for q in _queries(random.Random(seed)):
            reference = report_of(derive(load_history(engine, repo=q.repo)), q, NOW)
            same(reference, store_report(engine, q, NOW), f"seed {seed} {q}")
        # each seed adds to the same store: later rounds see a larger, mixed history


def test_metrics_and_groups_equal_the_reference(engine: Engine) -> None:
    build_random(engine, 11, tickets=30)
    d = derive(load_history(engine))
    rnd = random.Random(11)
    for q in _queries(rnd):
        rd = derive(load_history(engine, repo=q.repo)) if q.repo else d
        same(metrics(rd, q.period, q.where), store_metrics(engine, q.period, q.where))
        for dim in ("repo", "harness", "model", "label", "week"):
            same(
                grouped(rd, q.period, dim, q.where, now=NOW),
                store_grouped(engine, q.period, dim, q.where, now=NOW),
                f"{dim} {q}",
            )


def test_an_empty_store_gives_the_same_zeros(engine: Engine) -> None:
    q = ReportQuery(since=START, until=NOW)
    same(report_of(derive(load_history(engine)), q, NOW), store_report(engine, q, NOW))
