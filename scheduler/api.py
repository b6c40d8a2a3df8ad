"""The web API: GitHub webhooks in (answered at once; work happens in the queue), health,
and the dashboard, JSON API and Prometheus metrics (`scheduler.web`)."""

import json
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from scheduler.linear.api import add_linear_webhook
from scheduler.routing import screen
from scheduler.web.routes import install
from scheduler.webhooks import signature_ok
from worker.logs import get_logger
from worker.store.repo import record_delivery

log = get_logger(__name__)

EnqueueDelivery = Callable[[str], None]


def create_app(
    *,
    engine: Engine,
    webhook_secret: str | None,
    trigger_label: str,
    enqueue_delivery: EnqueueDelivery,
    linear_webhook_secret: str | None = None,
) -> FastAPI:
    """The API app. Dependencies are passed in; nothing is read from the environment here."""
    app = FastAPI(title="Burndown", version="0.1.0")
    install(app, engine)  # dashboard, /api, /metrics
    add_linear_webhook(
        app,
        engine=engine,
        secret=linear_webhook_secret,
        trigger_label=trigger_label,
        enqueue_delivery=enqueue_delivery,
    )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/github")
    async def github_webhook(request: Request) -> JSONResponse:
        if not webhook_secret:
            return _answer(503, "the webhook secret is not configured")
        body = await request.body()
        if not signature_ok(webhook_secret, body, request.headers.get("x-hub-signature-256")):
            log.warning(
                "webhook signature refused", delivery=request.headers.get("x-github-delivery")
            )
            return _answer(401, "bad or missing X-Hub-Signature-256")
        event = request.headers.get("x-github-event")
        delivery = request.headers.get("x-github-delivery")
        if not event or not delivery:
            return _answer(400, "missing X-GitHub-Event or X-GitHub-Delivery")
        try:
            payload = json.loads(body)
        except ValueError:
            return _answer(400, "the body is not JSON")
        if not isinstance(payload, dict):
            return _answer(400, "the body is not a JSON object")
        verdict = screen(event, payload, trigger_label)
        if not verdict.keep:
            return _answer(verdict.status, verdict.message)
        fresh = await run_in_threadpool(
            record_delivery, engine, delivery, event, payload.get("action"), body.decode()
        )
        if not fresh:
            return _answer(200, "duplicate delivery: already received")
        await run_in_threadpool(enqueue_delivery, delivery)
        log.info("delivery accepted", delivery=delivery, gh_event=event)
        return _answer(202, "accepted")

    return app


def _answer(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"message": message})
