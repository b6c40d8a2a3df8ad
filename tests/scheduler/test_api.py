"""POST /webhooks/github: every failure case, deduplication, and what gets enqueued."""

import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from scheduler.web.app import create_app
from tests.conftest import fixtures_dir
from tests.support.github_standin import labeled, payload, signed
from tests.support.processes import wait_for
from worker.store.repo import get_delivery

SECRET = "It's a Secret to Everybody"


@pytest.fixture
def sent() -> list[str]:
    return []


@pytest.fixture
def client(sqlite_engine: Engine, sent: list[str]) -> TestClient:
    app = create_app(
        engine=sqlite_engine,
        webhook_secret=SECRET,
        trigger_label="burndown",
        enqueue_deliveries=sent.extend,
    )
    return TestClient(app)


def test_a_trigger_label_is_recorded_and_enqueued(
    client: TestClient, sent: list[str], sqlite_engine: Engine
) -> None:
    body, headers = signed(SECRET, labeled())
    r = client.post("/webhooks/github", content=body, headers=headers)
    assert r.status_code == 202, r.text
    stored = get_delivery(sqlite_engine, headers["X-GitHub-Delivery"])  # before the answer
    wait_for("the hand-off", lambda: sent == [headers["X-GitHub-Delivery"]], 10)
    assert stored is not None and json.loads(stored.payload)["label"]["name"] == "burndown"


def test_a_redelivery_is_not_enqueued_twice(client: TestClient, sent: list[str]) -> None:
    body, headers = signed(SECRET, labeled(), delivery="same-guid")
    assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
    r = client.post("/webhooks/github", content=body, headers=headers)
    assert r.status_code == 200 and "duplicate" in r.json()["message"]
    wait_for("the hand-off", lambda: sent == ["same-guid"], 10)
    time.sleep(0.2)  # longer than the hand-off waits to gather a message
    assert sent == ["same-guid"]


@pytest.mark.parametrize("signature", [None, "", "sha256=" + "0" * 64, "sha1=abc", "garbage"])
def test_a_wrong_or_missing_signature_is_401(
    client: TestClient, sent: list[str], signature: str | None
) -> None:
    body, headers = signed(SECRET, labeled())
    headers.pop("X-Hub-Signature-256")
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    assert client.post("/webhooks/github", content=body, headers=headers).status_code == 401
    assert sent == []


def test_a_body_signed_with_another_secret_is_401(client: TestClient) -> None:
    body, headers = signed("another secret", labeled())
    assert client.post("/webhooks/github", content=body, headers=headers).status_code == 401


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"text"', json.dumps({"action": "labeled", "label": {}}).encode()],
)
def test_a_malformed_body_is_400(client: TestClient, sent: list[str], raw: bytes) -> None:
    body, headers = signed(SECRET, raw)
    r = client.post("/webhooks/github", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert sent == []


def test_missing_event_headers_are_400(client: TestClient) -> None:
    body, headers = signed(SECRET, labeled())
    headers.pop("X-GitHub-Delivery")
    assert client.post("/webhooks/github", content=body, headers=headers).status_code == 400


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ("issues", "opened"),
        ("issue_comment", "created"),
        ("pull_request", "opened"),
        ("check_run", "completed"),
        ("installation", "created"),
        ("issues", "unlabeled"),
    ],
)
def test_other_events_are_accepted_and_ignored(
    client: TestClient, sent: list[str], event: str, name: str
) -> None:
    body, headers = signed(SECRET, payload(event, name), event=event)
    r = client.post("/webhooks/github", content=body, headers=headers)
    assert 200 <= r.status_code < 300 and "ignored" in r.json()["message"]
    assert sent == []


def test_ping_answers_pong(client: TestClient) -> None:
    raw = (fixtures_dir() / "github-webhooks" / "ping" / "payload.json").read_bytes()
    body, headers = signed(SECRET, raw, event="ping")
    assert client.post("/webhooks/github", content=body, headers=headers).status_code == 200


def test_another_label_is_ignored(client: TestClient, sent: list[str]) -> None:
    body, headers = signed(SECRET, labeled("bug"))
    assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
    assert sent == []


def test_without_a_configured_secret_nothing_is_accepted(sqlite_engine: Engine) -> None:
    app = create_app(
        engine=sqlite_engine,
        webhook_secret=None,
        trigger_label="burndown",
        enqueue_deliveries=lambda ds: None,
    )
    body, headers = signed(SECRET, labeled())
    assert (
        TestClient(app).post("/webhooks/github", content=body, headers=headers).status_code == 503
    )


def test_a_harness_label_is_kept_and_enqueued(client: TestClient, sent: list[str]) -> None:
    body, headers = signed(SECRET, labeled("burndown:codex"))
    assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
    wait_for("the hand-off", lambda: sent == [headers["X-GitHub-Delivery"]], 10)
