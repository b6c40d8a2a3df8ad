"""`POST /webhooks/linear`: verified, screened, stored once per `Linear-Delivery`, queued."""

import time
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from scheduler.intake.linear.webhook import Refused, screen, verified_payload
from worker.logs import get_logger
from worker.store.repo import record_delivery

log = get_logger(__name__)


def add_linear_webhook(
    app: FastAPI,
    *,
    engine: Engine,
    secret: str | None,
    trigger_label: str,
    enqueue_delivery: Callable[[str], None],
) -> None:
    """Register the Linear webhook on `app` (it answers 503 until a secret is configured)."""

    @app.post("/webhooks/linear")
    async def linear_webhook(request: Request) -> JSONResponse:
        if not secret:
            return _answer(503, "the Linear webhook secret is not configured")
        body = await request.body()
        try:
            payload = verified_payload(
                secret,
                body,
                request.headers.get("linear-signature"),
                request.headers.get("linear-timestamp"),
                int(time.time() * 1000),
            )
        except Refused as exc:
            log.warning("linear delivery refused", reason=exc.message)
            return _answer(exc.status, exc.message)
        delivery = request.headers.get("linear-delivery")
        if not delivery:
            return _answer(400, "missing Linear-Delivery")
        verdict = screen(payload, trigger_label)
        if not verdict.keep:
            return _answer(200, verdict.message)  # Linear retries anything but a 200
        event = f"linear.{payload.get('type')}"
        fresh = await run_in_threadpool(
            record_delivery, engine, f"linear:{delivery}", event, payload.get("action"),
            body.decode(),
        )  # fmt: skip
        if not fresh:
            return _answer(200, "duplicate delivery: already received")
        await run_in_threadpool(enqueue_delivery, f"linear:{delivery}")
        log.info("linear delivery accepted", delivery=delivery, linear_event=event)
        return _answer(200, "accepted")


def _answer(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"message": message})
