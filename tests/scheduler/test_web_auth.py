"""An anonymous browser sees nothing but the login page, health and webhooks; the operator's
token (a bearer header, or the session cookie the login form sets) opens the rest."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from scheduler.web.app import create_app

TOKEN = "operator-token-0123456789"
PROTECTED = ["/", "/tickets", "/runs/1", "/api/summary", "/api/report", "/api/runs/1", "/metrics"]


def _client(engine: Engine, token: str | None = TOKEN) -> TestClient:
    app = create_app(
        engine=engine,
        webhook_secret="s",
        trigger_label="burndown",
        enqueue_deliveries=print,
        operator_token=token,
    )
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


@pytest.mark.parametrize("path", PROTECTED)
def test_anonymous_requests_are_refused(sqlite_engine: Engine, path: str) -> None:
    c = _client(sqlite_engine)
    api = c.get(path)
    assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
    page = c.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    wrong = c.get(path, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    forged = c.get(path, headers={"Cookie": "burndown_session=9999999999.deadbeef"})
    assert forged.status_code == 401


def test_the_token_or_the_session_opens_them(sqlite_engine: Engine) -> None:
    c = _client(sqlite_engine)
    assert c.get("/api/summary", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    bad = c.post("/login", data={"token": "guess", "next": "/tickets"})
    assert bad.status_code == 401 and "burndown_session" not in bad.headers.get("set-cookie", "")
    ok = c.post("/login", data={"token": TOKEN, "next": "https://evil.example/"})
    assert ok.status_code == 303 and ok.headers["location"] == "/"  # never sent elsewhere
    assert "HttpOnly" in ok.headers["set-cookie"]
    assert c.get("/tickets").status_code == 200  # the client kept the cookie
    c.get("/logout")
    c.cookies.clear()
    assert c.get("/tickets").status_code == 401


def test_webhooks_and_health_stay_open_and_no_token_opens_nothing(sqlite_engine: Engine) -> None:
    c = _client(sqlite_engine, token=None)
    assert c.get("/healthz").status_code == 200
    assert c.post("/webhooks/github", content=b"{}").status_code == 401  # its own signature
    refused = c.get("/api/summary", headers={"Authorization": "Bearer "})
    assert refused.status_code == 401 and "BURNDOWN_OPERATOR_TOKEN" in refused.text
    assert "BURNDOWN_OPERATOR_TOKEN" in c.get("/login").text
