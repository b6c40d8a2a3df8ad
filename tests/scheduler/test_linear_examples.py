"""Every example body of Linear's SDK (its two webhook test files), and malformed bodies that
pass the webhook's screen, through the API and intake: each is verified, then answered and
dropped, or kept and closed with a recorded status; none crashes intake or stays pending."""

import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from scheduler.intake.process import process_delivery
from scheduler.intake.shapes import IntakeDeps
from scheduler.web.app import create_app
from tests.scheduler.test_linear_webhook import SECRET, post, sdk_comment_example
from worker.github.fake import FakeGitHub
from worker.linear.fake import FakeLinear
from worker.store.models import DeliveryStatus
from worker.store.repo import get_delivery
from worker.tracker import LinearTrust


def _sdk_entity(kind: str) -> dict[str, Any]:
    """`generateIssuePayload` / `generateCommentPayload` of the SDK's webhook-handler test."""
    return {
        "type": kind,
        "action": "create",
        "actor": {"id": str(uuid.uuid4())},
        "data": {"foo": "bar"},
        "organizationId": str(uuid.uuid4()),
        "createdAt": "2025-08-08T05:00:00.000Z",
        "webhookId": str(uuid.uuid4()),
        "webhookTimestamp": int(time.time() * 1000),
    }


def _stamped(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "webhookTimestamp": int(time.time() * 1000)}


SDK = {
    "LinearWebhooks.test.ts comment": sdk_comment_example,
    "webhook-handler.test.ts issue": lambda: _sdk_entity("Issue"),
    "webhook-handler.test.ts comment": lambda: _sdk_entity("Comment"),
}

KEPT_BUT_MALFORMED = {
    "a label update without data.id": {
        "type": "Issue",
        "action": "update",
        "data": {"labelIds": ["l1"], "labels": [{"id": "l1", "name": "burndown"}]},
        "updatedFrom": {"labelIds": []},
    },
    "a session created without its id": {
        "type": "AgentSessionEvent",
        "action": "created",
        "agentSession": {"issueId": "i-1"},
    },
    "a prompt for a session Burndown never saw": {
        "type": "AgentSessionEvent",
        "action": "prompted",
        "agentSession": {"id": "s-unknown"},
        "agentActivity": {"content": {"type": "prompt", "body": "hi"}},
    },
    "a label added by someone who is not a member": {
        "type": "Issue",
        "action": "update",
        "actor": {"id": "u-gone"},
        "data": {
            "id": "i-404",
            "labelIds": ["l1"],
            "labels": [{"id": "l1", "name": "burndown"}],
        },
        "updatedFrom": {"labelIds": []},
    },
}


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


def _deps(engine: Engine, fake: FakeLinear) -> IntakeDeps:
    return IntakeDeps(
        engine,
        FakeGitHub(),
        "burndown",
        lambda _: None,
        linear=fake,
        linear_repos={"ENG": "acme/widgets"},
        linear_trust=LinearTrust(),
    )


@pytest.mark.parametrize("name", sorted(SDK))
def test_every_sdk_example_is_verified_then_answered_and_dropped(
    client: TestClient, sent: list[str], name: str
) -> None:
    status, message, _ = post(client, SDK[name]())
    assert status == 200 and message.startswith("ignored:") and sent == []
    wrong = post(client, SDK[name](), secret="WRONG_SECRET")
    assert wrong[:2] == (401, "Invalid webhook signature")


@pytest.mark.parametrize("name", sorted(KEPT_BUT_MALFORMED))
def test_a_malformed_trigger_is_kept_then_closed_with_a_reason(
    client: TestClient, sent: list[str], sqlite_engine: Engine, name: str
) -> None:
    status, message, delivery = post(client, _stamped(KEPT_BUT_MALFORMED[name]))
    assert (status, message) == (200, "accepted")
    (kept,) = sent
    fake = FakeLinear()
    closed = process_delivery(kept, _deps(sqlite_engine, fake))
    assert closed in (DeliveryStatus.REJECTED, DeliveryStatus.IGNORED)
    d = get_delivery(sqlite_engine, kept)
    assert d is not None and d.note and d.status == closed
    assert kept == f"linear:{delivery}"
