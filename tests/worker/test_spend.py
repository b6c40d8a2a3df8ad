"""Budgets above the run: spend per day and month, for all and per repository; a spent budget
holds the next ticket (or refuses it), and the hold lifts when the period turns."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.worker.test_pipeline import REPO, Scene, World, make_world
from worker.spend import Budgets, WhenSpent, next_month, spent_budget, spent_since, standings
from worker.store.models import OutcomeKind, TicketStatus
from worker.store.repo import get_ticket


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Engine) -> World:
    return make_world(tmp_path, sqlite_engine)


def test_a_daily_budget_reached_holds_the_next_ticket_until_it_is_raised(world: World) -> None:
    daily = Budgets(daily_usd=0.01)
    first, _ = world.run(Scene(), world.ticket(3), budgets=daily)
    assert first is not None and first.kind == OutcomeKind.PR_OPENED  # it cost $0.0123
    now = datetime.now(UTC)
    assert spent_since(world.engine, now - timedelta(hours=1)) == 0.0123
    assert spent_since(world.engine, now - timedelta(hours=1), "other/repo") == 0.0

    held_id = world.ticket(4)
    scene = Scene()
    outcome, runtime = world.run(scene, held_id, budgets=daily)
    assert outcome is None and runtime.specs == [] and scene.seen == []
    ticket = get_ticket(world.engine, held_id)
    assert ticket is not None and ticket.status == TicketStatus.QUEUED
    assert ticket.held_reason is not None
    assert "the daily budget ($0.01 of $0.01 spent" in ticket.held_reason

    outcome, _ = world.run(Scene(), held_id, budgets=Budgets(daily_usd=1.0))
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    ticket = get_ticket(world.engine, held_id)
    assert ticket is not None and ticket.held_reason is None


def test_a_spent_repository_budget_refuses_by_setting(world: World) -> None:
    world.run(Scene(), world.ticket(3))
    refuse = Budgets(repo_monthly_usd=0.01, when_spent=WhenSpent.REFUSE)
    refused = world.ticket(4)
    outcome, runtime = world.run(Scene(), refused, budgets=refuse)
    assert outcome is None and runtime.specs == []
    ticket = get_ticket(world.engine, refused)
    assert ticket is not None and ticket.status == TicketStatus.FAILED
    comment = world.gh.comments[-1][2]
    assert "will not work on this issue now: the repo monthly budget of octo/widgets" in comment


def test_the_hold_lifts_when_the_period_turns(world: World) -> None:
    world.run(Scene(), world.ticket(3))
    budgets = Budgets(daily_usd=0.01, monthly_usd=0.02)
    now = datetime.now(UTC)
    assert spent_budget(world.engine, budgets, REPO, now) is not None
    assert spent_budget(world.engine, budgets, REPO, now + timedelta(days=1)) is None
    (daily, monthly) = standings(world.engine, budgets, None, now)
    assert (daily.name, daily.spent, monthly.spent) == ("daily", True, False)
    assert monthly.resets_at == next_month(now)
    assert spent_budget(world.engine, Budgets(), REPO, now) is None


def test_next_month_across_the_year() -> None:
    assert next_month(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
