"""Pull request lifecycle through the API: real `pull_request` deliveries (retargeted) are
signed, screened, stored, handled by intake and recorded."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from scheduler.web.app import create_app
from tests.support.github_standin import pull_request, signed
from tests.support.history import HistoryBuilder
from tests.support.processes import wait_for
from worker.github.fake import FakeGitHub
from worker.store.db import session_scope
from worker.store.models import AgentPull, DeliveryStatus, PullState
from worker.store.repo import get_delivery

SECRET = "It's a Secret to Everybody"
REPO = "acme/widgets"
Post = Callable[..., tuple[int, str]]


@pytest.fixture
def post(engine: Engine) -> Post:
    """POST a pull_request delivery; intake handles what the API enqueues, at once."""
    deps = IntakeDeps(engine, FakeGitHub(), "burndown", lambda _: None)
    handled: list[str] = []

    def handle(ds: list[str]) -> None:
        for d in ds:
            process_delivery(d, deps)
            handled.append(d)

    app = create_app(
        engine=engine, webhook_secret=SECRET, trigger_label="burndown", enqueue_deliveries=handle
    )
    client = TestClient(app)

    def send(action: str, **kw: object) -> tuple[int, str]:
        body, headers = signed(SECRET, pull_request(action, repo=REPO, **kw), "pull_request")  # type: ignore[arg-type]
        r = client.post("/webhooks/github", content=body, headers=headers)
        delivery = headers["X-GitHub-Delivery"]
        if get_delivery(engine, delivery) is not None:  # stored, answered, then handed off
            wait_for("intake", lambda: delivery in handled, 10)
        return r.status_code, delivery

    return send


def _pull(engine: Engine, number: int) -> AgentPull | None:
    with session_scope(engine) as s:
        return s.exec(select(AgentPull).where(AgentPull.number == number)).first()


def _agent_pr(engine: Engine, number: int) -> None:
    h = HistoryBuilder(engine)
    tid = h.ticket(REPO, 1, datetime(2019, 5, 15, 15, tzinfo=UTC))
    h.run(tid, datetime(2019, 5, 15, 15, tzinfo=UTC), repo=REPO, pr_number=number)


def test_closed_reopened_and_merged_are_recorded_in_order(engine: Engine, post: Post) -> None:
    _agent_pr(engine, 2)
    head = "burndown/issue-1"
    status, delivery = post("closed", number=2, head=head, updated_at="2019-05-15T15:21:18Z")
    assert status == 202
    d = get_delivery(engine, delivery)
    assert d is not None and d.status == DeliveryStatus.PROCESSED
    row = _pull(engine, 2)
    assert row is not None and row.state == PullState.CLOSED
    # the recorded reopened delivery carries an older updated_at: applied in GitHub's order
    assert post("reopened", number=2, head=head, updated_at="2019-05-15T15:20:33Z")[0] == 202
    row = _pull(engine, 2)
    assert row is not None and (row.state, row.reopened_count) == (PullState.CLOSED, 0)
    assert post("reopened", number=2, head=head, updated_at="2019-05-15T16:00:00Z")[0] == 202
    row = _pull(engine, 2)
    assert row is not None and (row.state, row.reopened_count) == (PullState.OPEN, 1)
    merged = post(
        "closed",
        number=2,
        head=head,
        updated_at="2019-05-16T09:00:00Z",
        merged=True,
        merge_commit_sha="e" * 40,
    )
    assert merged[0] == 202
    row = _pull(engine, 2)
    assert row is not None and row.state == PullState.MERGED
    assert row.merged_at is not None
    assert row.merged_at.replace(tzinfo=UTC) == datetime(2019, 5, 16, 9, tzinfo=UTC)
    assert row.merge_commit_sha == "e" * 40 and row.reopened_count == 1


def test_a_pull_request_we_did_not_open_is_ignored(engine: Engine, post: Post) -> None:
    status, delivery = post(
        "closed", number=77, head="burndown/issue-9", updated_at="2019-05-15T15:21:18Z"
    )
    assert status == 202
    d = get_delivery(engine, delivery)
    assert d is not None and d.status == DeliveryStatus.IGNORED and "not an agent" in d.note
    assert _pull(engine, 77) is None


@pytest.mark.parametrize(
    ("action", "head"), [("closed", "feature/x"), ("opened", "burndown/issue-1")]
)
def test_other_pull_requests_and_actions_are_not_kept(
    engine: Engine, post: Post, action: str, head: str
) -> None:
    _agent_pr(engine, 2)
    status, delivery = post(action, number=2, head=head, updated_at="2019-05-15T15:21:18Z")
    assert status == 202 and get_delivery(engine, delivery) is None
    assert _pull(engine, 2) is None
