"""The report from the database's sums (`fromstore`) equals the reference, the pure functions
over every row (`report_of`), on random histories, for any period, repository and harness,
on SQLite and PostgreSQL. Sums of costs may differ in the last bits (the database adds them
in its own order); every other number is equal."""

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from scheduler.report.attribution import derive
from scheduler.report.fromstore import store_grouped, store_metrics, store_report
from scheduler.report.history import load_history
from scheduler.report.metrics import grouped, metrics
from scheduler.report.report import ReportQuery, report_of
from tests.support.history import HistoryBuilder
from tests.support.same import same
from worker.errors import StoreError
from worker.store.models import OutcomeKind, PullState

REPOS = ("acme/app", "acme/lib", "acme/web")
HARNESSES = (("claude-code", "sonnet"), ("codex", "gpt"), ("codex", None), ("aider", ""))
LABELS = ("bug", "docs", "enhancement")
START = datetime(2030, 3, 4, tzinfo=UTC)
NOW = START + timedelta(days=70)


def _moment(rnd: random.Random, days: float = 56) -> datetime:
    return START + timedelta(
        minutes=rnd.randrange(int(days * 24 * 60)), microseconds=rnd.randrange(10**6)
    )


def build_random(engine: Engine, seed: int, tickets: int = 40) -> None:
    """Tickets, runs by several harnesses, pull requests merged, closed, reopened and
    reverted, issues reopened before and after merges, and issues closed by people."""
    rnd = random.Random(seed)
    h = HistoryBuilder(engine)
    base = seed * 10_000  # several histories can share a store
    for n in range(base + 1, base + tickets + 1):
        repo, created = rnd.choice(REPOS), _moment(rnd)
        labels = rnd.sample(LABELS, rnd.randrange(0, 3))
        reopen = rnd.random() < 0.25
        tid = h.ticket(
            repo,
            n,
            created,
            labels=labels,
            issue_state="open" if reopen else rnd.choice(("closed", None)),
            issue_reopened_at=created + timedelta(hours=rnd.randrange(1, 200)) if reopen else None,
        )
        pr = 5000 + n if rnd.random() < 0.7 else None
        life_first = pr is not None and rnd.random() < 0.3
        merged_at = created + timedelta(hours=rnd.randrange(1, 150))
        if life_first:
            _pull(h, rnd, repo, pr, merged_at)  # type: ignore[arg-type]
        for k in range(rnd.choice((0, 1, 1, 2, 3))):
            harness, model = rnd.choice(HARNESSES)
            names_pr = pr is not None and rnd.random() < 0.8
            h.run(
                tid,
                created + timedelta(minutes=5 + 60 * k + rnd.randrange(60 * 24)),
                harness=harness,
                model=model,
                minutes=rnd.randrange(1, 90),
                outcome=OutcomeKind.PR_OPENED
                if names_pr
                else rnd.choice((OutcomeKind.FAILED, OutcomeKind.NO_CHANGES)),
                repo=repo,
                pr_number=pr if names_pr else None,
                input_tokens=rnd.choice((None, rnd.randrange(1, 10_000))),
                output_tokens=rnd.choice((None, rnd.randrange(1, 1_000))),
                cost_usd=rnd.choice((None, round(rnd.uniform(0.01, 3), 4))),
            )
        if pr is not None and not life_first and rnd.random() < 0.8:
            _pull(h, rnd, repo, pr, merged_at)
    for n in range(tickets // 2):
        repo = rnd.choice(REPOS)
        number = rnd.choice((base + rnd.randrange(1, tickets + 1), base + 9000 + n))
        labels = rnd.sample(LABELS, rnd.randrange(0, 3))
        try:
            h.closed_issue(repo, number, _moment(rnd, 63), labels)
        except StoreError:  # the same issue drawn twice: one close is enough
            continue


def _pull(h: HistoryBuilder, rnd: random.Random, repo: str, pr: int, merged_at: datetime) -> None:
    fate = rnd.choice(("open", "closed", "merged", "merged", "reverted"))
    state = PullState.MERGED if fate in ("merged", "reverted") else PullState(fate)
    h.pull(
        repo,
        pr,
        state,
        closed_at=merged_at if state != PullState.OPEN else None,
        merged_at=merged_at if state == PullState.MERGED else None,
        reopened=rnd.choice((0, 0, 1, 2)),
        reverted_at=merged_at + timedelta(days=1) if fate == "reverted" else None,
    )


def _queries(rnd: random.Random) -> list[ReportQuery]:
    out = [ReportQuery(runs_shown=15)]
    for _ in range(7):
        since = rnd.choice((None, _moment(rnd)))
        until = rnd.choice((None, _moment(rnd, 70)))
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
