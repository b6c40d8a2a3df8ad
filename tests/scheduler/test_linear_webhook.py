"""POST /webhooks/linear: the checks of Linear's SDK (signature, one-minute timestamp window)
on the SDK's own example bodies, triggers kept once per Linear-Delivery, the rest answered."""

import json
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from scheduler.intake.linear.webhook import is_stop, sign
from scheduler.web.app import create_app
from worker.store.repo import get_delivery

SECRET = "lin_wh_SECRET"
LABEL_ID, OTHER_ID = "b1e6a3c2-0000-4000-8000-000000000001", "b1e6a3c2-0000-4000-8000-000000000002"


@pytest.fixture
def sent() -> list[str]:
    return []


@pytest.fixture
def client(sqlite_engine: Engine, sent: list[str]) -> TestClient:
    app = create_app(
        engine=sqlite_engine,
        webhook_secret="gh",
        trigger_label="burndown",
        enqueue_deliveries=sent.extend,
        linear_webhook_secret=SECRET,
    )
    return TestClient(app)


def sdk_comment_example() -> dict[str, Any]:
    """The body of the SDK's `LinearWebhooks.test.ts`, with a fresh timestamp."""
    return {
        "action": "create",
        "data": {
            "id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9",
            "createdAt": "2020-01-23T12:53:18.084Z",
            "updatedAt": "2020-01-23T12:53:18.084Z",
            "archivedAt": None,
            "body": "Indeed, I think this is definitely an improvement over the previous version.",
            "edited": False,
            "issueId": "539068e2-ae88-4d09-bd75-22eb4a59612f",
            "userId": "aacdca22-6266-4c0a-ab3c-8fa70a26765c",
        },
        "type": "Comment",
        "url": "https://linear.app/issue/LIN-1778/foo-bar#comment-77217de3",
        "createdAt": "2020-01-23T12:53:18.084Z",
        "webhookTimestamp": int(time.time() * 1000),
    }


def label_added() -> dict[str, Any]:
    return {
        "action": "update",
        "type": "Issue",
        "createdAt": "2026-12-01T03:00:00.000Z",
        "organizationId": "org-1",
        "webhookId": "wh-1",
        "url": "https://linear.app/acme/issue/ENG-123/fix-the-typo",
        "data": {
            "id": "issue-1",
            "identifier": "ENG-123",
            "title": "Fix the typo",
            "labelIds": [OTHER_ID, LABEL_ID],
            "labels": [{"id": OTHER_ID, "name": "bug"}, {"id": LABEL_ID, "name": "Burndown"}],
            "team": {"id": "team-1", "key": "ENG", "name": "Engineering"},
        },
        "updatedFrom": {"labelIds": [OTHER_ID], "updatedAt": "2026-12-01T02:59:00.000Z"},
        "webhookTimestamp": int(time.time() * 1000),
    }


def agent_session(action: str, signal: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "AgentSessionEvent",
        "action": action,
        "createdAt": "2026-12-01T03:00:00.000Z",
        "organizationId": "org-1",
        "oauthClientId": "client-1",
        "appUserId": "app-user-1",
        "agentSession": {"id": "session-1", "issue": {"id": "issue-1", "identifier": "ENG-123"}},
        "webhookTimestamp": int(time.time() * 1000),
    }
    if action == "prompted":
        body["agentActivity"] = {"id": "act-1", "agentSessionId": "session-1", "signal": signal}
    return body


def post(
    client: TestClient, body: dict[str, Any], secret: str = SECRET, delivery: str | None = None
) -> tuple[int, str, str]:
    raw = json.dumps(body).encode()
    delivery = delivery or str(uuid.uuid4())
    headers = {
        "Linear-Signature": sign(secret, raw),
        "Linear-Delivery": delivery,
        "Linear-Event": str(body.get("type")),
        "Content-Type": "application/json",
    }
    r = client.post("/webhooks/linear", content=raw, headers=headers)
    return r.status_code, r.json()["message"], delivery


def test_the_sdk_example_is_verified_and_answered_not_kept(
    client: TestClient, sent: list[str]
) -> None:
    status, message, _ = post(client, sdk_comment_example())
    assert (status, message, sent) == (200, "ignored: Comment.create", [])


def test_a_wrong_secret_is_refused(client: TestClient, sent: list[str]) -> None:
    status, message, _ = post(client, label_added(), secret="WRONG_SECRET")
    assert (status, message, sent) == (401, "Invalid webhook signature", [])


@pytest.mark.parametrize(
    ("stamp", "status", "message"),
    [
        ("stale", 401, "Invalid webhook timestamp"),  # 1000 s old, taken when the test runs
        ("not-a-number", 400, "Invalid webhook timestamp: not-a-number"),
        (None, 400, "Invalid webhook timestamp: None"),
    ],
)
def test_a_timestamp_outside_the_window_is_refused(
    client: TestClient, sent: list[str], stamp: object, status: int, message: str
) -> None:
    body = label_added()
    body["webhookTimestamp"] = int(time.time() * 1000) - 1_000_000 if stamp == "stale" else stamp
    assert post(client, body)[:2] == (status, message) and sent == []


def test_a_missing_signature_is_refused(client: TestClient) -> None:
    r = client.post("/webhooks/linear", content=b"{}", headers={"Linear-Delivery": "d"})
    assert (r.status_code, r.json()["message"]) == (400, "Missing webhook signature")


def test_the_trigger_label_added_is_kept_once_per_delivery(
    client: TestClient, sent: list[str], sqlite_engine: Engine
) -> None:
    status, _, delivery = post(client, label_added())
    assert status == 200 and sent == [f"linear:{delivery}"]
    stored = get_delivery(sqlite_engine, sent[0])
    assert stored is not None and (stored.event, stored.action) == ("linear.Issue", "update")
    again = post(client, label_added(), delivery=delivery)  # Linear's retry: same id
    assert again[:2] == (200, "duplicate delivery: already received") and len(sent) == 1


def test_other_issue_updates_are_not_triggers(client: TestClient, sent: list[str]) -> None:
    unchanged = label_added()
    del unchanged["updatedFrom"]["labelIds"]  # labels did not change in this update
    removed = label_added()
    removed["updatedFrom"]["labelIds"] = [OTHER_ID, LABEL_ID]
    removed["data"]["labelIds"] = [OTHER_ID]
    for body in (unchanged, removed):
        assert post(client, body)[:2] == (200, "ignored: Issue.update")
    assert sent == []


def test_agent_sessions_are_kept_and_a_stop_is_recognised(
    client: TestClient, sent: list[str]
) -> None:
    for body in (agent_session("created"), agent_session("prompted", "stop")):
        assert post(client, body)[0] == 200
    assert len(sent) == 2
    assert is_stop(agent_session("prompted", "stop"))
    assert not is_stop(agent_session("prompted")) and not is_stop(agent_session("created"))


def test_without_a_secret_the_endpoint_is_closed(sqlite_engine: Engine) -> None:
    app = create_app(
        engine=sqlite_engine,
        webhook_secret="gh",
        trigger_label="burndown",
        enqueue_deliveries=print,
    )
    r = TestClient(app).post("/webhooks/linear", content=b"{}")
    assert r.status_code == 503
