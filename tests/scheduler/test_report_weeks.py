"""The weekly sums stay equal to the reference after the writes that follow a report (the
database's triggers name every week they touch), a period is split into whole weeks and
partial ones exactly, and a cached answer lasts until the next write."""

import json
import random
from datetime import timedelta

from sqlalchemy import Engine, delete, update
from sqlmodel import col, select

from scheduler.report.attribution import Period, derive
from scheduler.report.cache import ReportCache
from scheduler.report.fromstore import store_report
from scheduler.report.history import load_history
from scheduler.report.metrics import week_of
from scheduler.report.report import ReportQuery, report_of
from scheduler.report.weeks import refresh, split, version
from tests.support.history import NOW, REPOS, START, HistoryBuilder, build_random, random_moment
from tests.support.same import same
from worker.store.db import session_scope
from worker.store.models import AgentPull, ClosedIssue, PullState, Run, Ticket
from worker.store.rollup import refresh_pull, refresh_run


def _queries() -> list[ReportQuery]:
    rnd = random.Random(5)
    out = [ReportQuery(runs_shown=5)]
    for _ in range(5):
        a, b = sorted((random_moment(rnd), random_moment(rnd, 70)))
        out.append(ReportQuery(a, b, rnd.choice((None, *REPOS)), rnd.choice((None, "codex"))))
    return out


def _check(engine: Engine, what: str) -> None:
    for q in _queries():
        reference = report_of(derive(load_history(engine, repo=q.repo)), q, NOW)
        same(reference, store_report(engine, q, NOW), f"{what}: {q}")


def test_writes_after_a_report_reach_the_weekly_sums(engine: Engine) -> None:
    build_random(engine, 5, tickets=30)
    with session_scope(engine) as s:
        tickets = list(s.exec(select(Ticket).order_by(col(Ticket.id))).all())
    h = HistoryBuilder(engine)  # a run weeks after its ticket's: moving the ticket moves it
    h.run(tickets[0].id or 0, tickets[0].created_at + timedelta(days=22), harness="codex")
    _check(engine, "built")
    with session_scope(engine) as s:
        moved, reopened = s.get(Ticket, tickets[0].id), s.get(Ticket, tickets[1].id)
        assert moved is not None and reopened is not None
        moved.repo, moved.labels = REPOS[2], json.dumps(["moved"])  # its runs and pulls move
        reopened.issue_state, reopened.issue_reopened_at = "open", START + timedelta(days=60)
        others = col(Run.ticket_id) != moved.id
        run = s.exec(select(Run).where(others).order_by(col(Run.id).desc())).first()
        assert run is not None
        run.cost_usd, run.input_tokens, run.harness = 9.5, 123_456, "aider"
        refresh_run(s, run)
    _check(engine, "ticket moved, reopened, run changed")
    with session_scope(engine) as s:
        pull = s.exec(select(AgentPull).order_by(col(AgentPull.id))).first()
        assert pull is not None
        s.execute(
            update(AgentPull)
            .where(col(AgentPull.id) == pull.id)
            .values(state=PullState.MERGED, merged_at=START + timedelta(days=20))
        )
        refresh_pull(s, pull.repo, pull.number)
        s.execute(delete(ClosedIssue).where(col(ClosedIssue.id) == 1))
    h.run(tickets[2].id or 0, START + timedelta(days=3, hours=5), harness="codex", model="gpt")
    h.closed_issue(REPOS[0], 777_777, START + timedelta(days=9), ["bug"])
    _check(engine, "pull merged, issue reopened, late run, new close")
    assert refresh(engine) == 0  # nothing written since the last report


def test_a_period_is_whole_weeks_and_the_partial_weeks_around_them() -> None:
    rnd = random.Random(3)
    for _ in range(300):
        since = rnd.choice((None, random_moment(rnd)))
        until = rnd.choice((None, random_moment(rnd, 70)))
        if since and until and since >= until:
            since, until = until, since
        full, edges = split(Period(since, until))
        for _ in range(20):
            m = random_moment(rnd, 80) - timedelta(days=5)
            in_full = full is not None and all(
                ok
                for ok in (
                    full[0] is None or week_of(m).date().isoformat() >= full[0],
                    full[1] is None or week_of(m).date().isoformat() < full[1],
                )
            )
            in_edges = sum(e.holds(m) for e in edges)
            assert in_full + in_edges == int(Period(since, until).holds(m)), (since, until, m)


def test_a_cached_answer_lasts_until_the_next_write(engine: Engine) -> None:
    build_random(engine, 6, tickets=10)
    cache, q = ReportCache(engine), ReportQuery()
    calls: list[int] = []

    def compute() -> object:
        calls.append(1)
        return store_report(engine, q, NOW)

    first = cache.get("whole", compute)
    assert cache.get("whole", compute) is first and len(calls) == 1
    before = version(engine)
    HistoryBuilder(engine).closed_issue(REPOS[1], 888_888, START + timedelta(days=2))
    again = cache.get("whole", compute)
    assert version(engine) == before + 1 and len(calls) == 2 and again is not first
    same(report_of(derive(load_history(engine)), q, NOW), again)
