"""The metrics on a built history with answers worked out by hand (see the table below),
read from a real store (SQLite and PostgreSQL) through `load_history`.

Two weeks, W1 = [2030-03-04, 2030-03-11) and W2 = [2030-03-11, 2030-03-18); repositories A
(acme/app) and B (acme/lib); harnesses cc (claude-code, model sonnet) and cx (codex, gpt).

ticket  created    labels  runs (start, outcome, cost)              what became of it
T1 A#1  W1 Mon 9h  bug     r1 cc Mon 10h PR 101 $1                   101 merged Tue 10:10
T2 A#2  W1 Mon 9h  bug     r2 cc Mon 11h failed $0.5;                102 closed, then reopened:
                           r3 cx Tue 9h PR 102 $2                    open now
T3 A#3  W1 Wed 9h  enh.    r4 cc Wed 10h PR 103 $1                   103 merged Thu, reverted Fri
T4 B#4  W1 Wed 9h  -       r5 cx Wed 10h PR 104 $3                   104 merged Wed 16:10; the
                                                                     issue reopened Fri
T5 B#5  W2 Mon 9h  bug     r6 cc Mon 10h PR 105 $1;                  105 merged Tue 12:10
                           r7 cx Mon 12h same PR 105 $2              (credited to r7)
T6 A#6  W2 Tue 9h  bug     r8 cc Tue 10h no changes, cost unknown
T7 A#7  W2 Wed 9h  bug     none
closed issues: W1 A#1 (bug), A#50 (bug), A#3 (enh.); W2 A#51, B#5 (bug), B#52.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from scheduler.report.attribution import Derived, Period, derive
from scheduler.report.compare import compare_harnesses
from scheduler.report.history import load_history
from scheduler.report.metrics import grouped, metrics
from tests.support.history import HistoryBuilder
from worker.store.models import OutcomeKind, PullState

A, B = "acme/app", "acme/lib"
W1 = datetime(2030, 3, 4, tzinfo=UTC)
W2 = W1 + timedelta(days=7)
END = W2 + timedelta(days=7)
ALL = Period(W1, END)
NOW = END + timedelta(days=1)


def at(week: datetime, day: int, hour: int, minute: int = 0) -> datetime:
    return week + timedelta(days=day, hours=hour, minutes=minute)


def build(engine: Engine) -> None:
    h = HistoryBuilder(engine)
    cc = {"harness": "claude-code", "model": "sonnet"}
    cx = {"harness": "codex", "model": "gpt"}

    def cost(usd: float) -> dict[str, object]:
        return {"cost_usd": usd, "input_tokens": int(usd * 1000), "output_tokens": int(usd * 100)}

    t1 = h.ticket(A, 1, at(W1, 0, 9), labels=["bug"], issue_state="closed")
    h.run(t1, at(W1, 0, 10), repo=A, pr_number=101, **cc, **cost(1))  # type: ignore[arg-type]
    h.pull(A, 101, PullState.MERGED, merged_at=at(W1, 1, 10, 10))

    t2 = h.ticket(A, 2, at(W1, 0, 9), labels=["bug"])
    h.run(t2, at(W1, 0, 11), outcome=OutcomeKind.FAILED, **cc, **cost(0.5))  # type: ignore[arg-type]
    h.run(t2, at(W1, 1, 9), repo=A, pr_number=102, **cx, **cost(2))  # type: ignore[arg-type]
    h.pull(A, 102, PullState.OPEN, reopened=1)

    t3 = h.ticket(A, 3, at(W1, 2, 9), labels=["enhancement"], issue_state="closed")
    h.run(t3, at(W1, 2, 10), repo=A, pr_number=103, **cc, **cost(1))  # type: ignore[arg-type]
    h.pull(A, 103, PullState.MERGED, merged_at=at(W1, 3, 10), reverted_at=at(W1, 4, 10))

    t4 = h.ticket(B, 4, at(W1, 2, 9), issue_state="open", issue_reopened_at=at(W1, 4, 9))
    h.run(t4, at(W1, 2, 10), repo=B, pr_number=104, **cx, **cost(3))  # type: ignore[arg-type]
    h.pull(B, 104, PullState.MERGED, merged_at=at(W1, 2, 16, 10))

    t5 = h.ticket(B, 5, at(W2, 0, 9), labels=["bug"], issue_state="closed")
    h.run(t5, at(W2, 0, 10), repo=B, pr_number=105, **cc, **cost(1))  # type: ignore[arg-type]
    h.run(t5, at(W2, 0, 12), repo=B, pr_number=105, **cx, **cost(2))  # type: ignore[arg-type]
    h.pull(B, 105, PullState.MERGED, merged_at=at(W2, 1, 12, 10))

    t6 = h.ticket(A, 6, at(W2, 1, 9), labels=["bug"])
    h.run(
        t6,
        at(W2, 1, 10),
        outcome=OutcomeKind.NO_CHANGES,
        cost_usd=None,
        input_tokens=None,
        output_tokens=None,
        **cc,  # type: ignore[arg-type]
    )
    h.ticket(A, 7, at(W2, 2, 9), labels=["bug"])

    for repo, n, when, labels in [
        (A, 1, at(W1, 1, 10, 10), ["bug"]),
        (A, 50, at(W1, 1, 12), ["bug"]),
        (A, 3, at(W1, 3, 10), ["enhancement"]),
        (A, 51, at(W2, 0, 12), []),
        (B, 5, at(W2, 1, 12, 10), ["bug"]),
        (B, 52, at(W2, 2, 12), []),
    ]:
        h.closed_issue(repo, n, when, labels)


@pytest.fixture
def history(engine: Engine) -> Derived:
    build(engine)
    return derive(load_history(engine))


def test_the_whole_period(history: Derived) -> None:
    m = metrics(history, ALL)
    assert (m.handed, m.resolved, m.reopened) == (7, 2, 1)
    assert (m.funnel.labeled, m.funnel.run, m.funnel.pull_request, m.funnel.merged) == (7, 6, 5, 3)
    assert m.agent_coverage == pytest.approx(2 / 7)
    assert (m.resolved_in_period, m.closed_in_period) == (2, 6)
    assert m.backlog_coverage == pytest.approx(1 / 3)
    assert m.runs == 8 and m.outcomes == {"pr_opened": 6, "failed": 1, "no_changes": 1}
    assert (m.prs_opened, m.prs_merged, m.prs_open, m.prs_closed) == (5, 3, 1, 0)
    assert (m.prs_reverted, m.prs_reopened) == (1, 1)
    assert m.merge_rate == pytest.approx(3 / 4)  # merged / (merged + closed + reverted)
    assert m.time_to_pr.count == 5
    assert m.time_to_pr.median_hours == pytest.approx(70 / 60)
    assert m.time_to_pr.mean_hours == pytest.approx((4 * 70 / 60 + 24 + 10 / 60) / 5)
    assert (m.time_to_merge.count, m.time_to_merge.median_hours) == (3, pytest.approx(24))
    assert m.time_to_merge.mean_hours == pytest.approx((24 + 6 + 26) / 3)
    assert (m.input_tokens, m.output_tokens) == (10500, 1050)
    assert m.tokens_per_run == pytest.approx(11550 / 7)
    assert m.tokens_per_merged_pr == pytest.approx(11550 / 3)
    assert (m.cost_usd, m.runs_without_cost) == (pytest.approx(10.5), 1)
    assert m.cost_per_run == pytest.approx(1.5)
    assert m.cost_per_merged_pr == pytest.approx(3.5)


def test_by_harness_credits_the_run_that_last_worked_on_a_merged_pr(history: Derived) -> None:
    g = grouped(history, ALL, "harness")
    cc, cx = g["claude-code"], g["codex"]
    assert (cc.handed, cc.funnel.pull_request, cc.funnel.merged, cc.resolved) == (5, 2, 1, 1)
    assert (cc.runs, cc.prs_opened, cc.prs_merged, cc.prs_reverted) == (5, 2, 1, 1)
    assert cc.merge_rate == pytest.approx(0.5)
    assert cc.cost_per_run == pytest.approx(3.5 / 4) and cc.cost_per_merged_pr == pytest.approx(3.5)
    assert cc.backlog_coverage == pytest.approx(1 / 6)  # over all closed issues
    assert (cx.handed, cx.funnel.pull_request, cx.funnel.merged) == (3, 3, 2)
    assert (cx.resolved, cx.reopened, cx.prs_open) == (1, 1, 1)
    assert cx.merge_rate == pytest.approx(1.0)  # the open PR is not decided yet
    assert cx.cost_per_run == pytest.approx(7 / 3) and cx.cost_per_merged_pr == pytest.approx(3.5)
    assert grouped(history, ALL, "model")["gpt"] == cx


def test_by_repository_label_and_week(history: Derived) -> None:
    repos = grouped(history, ALL, "repo")
    assert (repos[A].handed, repos[A].resolved, repos[A].closed_in_period) == (5, 1, 4)
    assert repos[A].backlog_coverage == pytest.approx(1 / 4)
    assert (repos[B].handed, repos[B].resolved, repos[B].reopened) == (2, 1, 1)
    assert repos[B].backlog_coverage == pytest.approx(1 / 2)

    labels = grouped(history, ALL, "label")
    assert set(labels) == {"(none)", "bug", "enhancement"}
    assert (labels["bug"].handed, labels["bug"].resolved, labels["bug"].closed_in_period) == (
        5,
        2,
        3,
    )
    assert labels["enhancement"].backlog_coverage == 0
    assert (labels["(none)"].handed, labels["(none)"].reopened) == (1, 1)

    weeks = grouped(history, ALL, "week", now=NOW)
    assert list(weeks) == ["2030-03-04", "2030-03-11"]
    w1, w2 = weeks.values()
    assert (w1.handed, w1.resolved, w1.resolved_in_period, w1.closed_in_period) == (4, 1, 1, 3)
    assert (w1.runs, w1.prs_opened) == (5, 4)
    assert (w2.handed, w2.resolved, w2.resolved_in_period, w2.closed_in_period) == (3, 1, 1, 3)
    assert (w2.runs, w2.prs_opened) == (3, 1)


def test_filters_and_periods_combine(history: Derived) -> None:
    m = metrics(history, Period(W2, END), {"repo": B, "harness": "codex"})
    assert (m.handed, m.runs, m.prs_opened, m.prs_merged, m.resolved) == (1, 1, 1, 1, 1)
    assert m.closed_in_period == 2
    assert metrics(history, Period(END, None)).handed == 0
    nested = grouped(history, ALL, "harness", {"harness": "codex"})
    assert list(nested) == ["codex"]


def test_harnesses_compared_on_the_same_tickets(history: Derived) -> None:
    (c,) = compare_harnesses(history, ALL)
    assert (c.a, c.b, c.tickets) == ("claude-code", "codex", 2)  # T2 and T5
    cc, cx = c.rows
    assert (cc.runs, cc.tickets_with_pr, cc.tickets_merged) == (2, 0, 0)
    assert (cc.cost_usd, cc.cost_per_run) == (pytest.approx(1.5), pytest.approx(0.75))
    assert (cx.runs, cx.tickets_with_pr, cx.tickets_merged) == (2, 2, 1)
    assert cx.cost_per_run == pytest.approx(2.0)


def test_an_empty_store_gives_empty_answers(engine: Engine) -> None:
    d = derive(load_history(engine))
    m = metrics(d, ALL)
    assert (m.handed, m.runs, m.prs_opened, m.cost_usd) == (0, 0, 0, 0)
    assert m.agent_coverage is None and m.backlog_coverage is None and m.merge_rate is None
    assert m.time_to_pr.median_hours is None and m.cost_per_merged_pr is None
    assert grouped(d, ALL, "harness") == {} and compare_harnesses(d, ALL) == []
    assert len(grouped(d, ALL, "week", now=NOW)) == 2  # the weeks exist, empty


def test_a_reopen_before_the_merge_does_not_undo_the_resolution(engine: Engine) -> None:
    h = HistoryBuilder(engine)
    t = h.ticket(A, 9, at(W1, 0, 9), issue_state="open", issue_reopened_at=at(W1, 0, 8))
    h.run(t, at(W1, 0, 10), repo=A, pr_number=109)
    h.pull(A, 109, PullState.MERGED, merged_at=at(W1, 1, 9))
    m = metrics(derive(load_history(engine)), ALL)
    assert (m.resolved, m.reopened) == (1, 0)


def test_an_unknown_dimension_is_refused(history: Derived) -> None:
    with pytest.raises(ValueError, match="unknown dimension"):
        grouped(history, ALL, "colour")


def test_by_week_is_bounded_whatever_the_period(history: Derived) -> None:
    huge = grouped(history, Period(datetime(1, 1, 1, tzinfo=UTC), END), "week", now=NOW)
    assert len(huge) == 520 and list(huge)[-2:] == ["2030-03-04", "2030-03-11"]
    assert grouped(history, Period(END, END + timedelta(days=1)), "week", now=NOW) == {
        "2030-03-18": metrics(history, Period(END, END + timedelta(days=1)))
    }
