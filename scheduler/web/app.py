"""The web API: GitHub webhooks in (answered at once; work happens in the queue), health,
and the dashboard, JSON API and Prometheus metrics (`scheduler.web`)."""

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import lru_cache

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.routing import Route

from sandbox.errors import BurndownError
from scheduler.intake.linear.api import add_linear_webhook
from scheduler.intake.payloads import BadDelivery, decode, read_text
from scheduler.intake.signature import body_digest, signature_ok
from scheduler.intake.table import screen
from scheduler.intake.writer import DeliveryWriter
from scheduler.web.auth import OperatorAuth
from scheduler.web.budgets import budgets_router
from scheduler.web.routes import install
from worker.logs import get_logger
from worker.secrets_scan import SecretScanner
from worker.spend import Budgets
from worker.store.repo import NewDelivery

log = get_logger(__name__)

EnqueueDeliveries = Callable[[list[str]], None]  # one queue message for several deliveries
MAX_BODY = 25 * 1024 * 1024  # GitHub sends at most 25 MiB
ON_THREAD = 256 * 1024  # bodies above this are signed and parsed off the event loop
DELIVERY_ID = re.compile(r"[\x21-\x7e]{1,128}")
EVENT = re.compile(r"[a-z_]{1,64}")
FORM = "application/x-www-form-urlencoded"


class _Refused(BurndownError):
    """A delivery answered with `status` before anything is stored."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def create_app(
    *,
    engine: Engine,
    webhook_secret: str | None,
    trigger_label: str,
    enqueue_deliveries: EnqueueDeliveries,
    operator_token: str | None = None,
    budgets: Budgets | None = None,
    linear_webhook_secret: str | None = None,
    secrets: SecretScanner | None = None,
) -> FastAPI:
    """The API app. Dependencies are passed in; nothing is read from the environment here.
    Everything but webhooks and health needs `operator_token` (see `scheduler.web.auth`);
    transcripts are shown redacted of the values `secrets` holds."""
    writer = DeliveryWriter(engine, enqueue_deliveries)
    app = FastAPI(title="Burndown", version="0.1.0", lifespan=lambda _: _closing(writer))
    app.add_middleware(OperatorAuth, token=operator_token)
    install(app, engine, secrets=secrets)  # dashboard, /api, /metrics
    app.include_router(budgets_router(engine, budgets or Budgets()))
    add_linear_webhook(
        app,
        engine=engine,
        secret=linear_webhook_secret,
        trigger_label=trigger_label,
        enqueue_delivery=lambda d: enqueue_deliveries([d]),
    )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def github_webhook(request: Request) -> Response:
        if not webhook_secret:
            return _answer(503, "the webhook secret is not configured")
        try:
            delivery, event, text, body = await _admit(request, webhook_secret)
            small = len(body) < ON_THREAD
            payload = read_text(text) if small else await run_in_threadpool(read_text, text)
        except _Refused as exc:
            return _answer(exc.status, exc.message)
        except BadDelivery as exc:
            return _answer(400, str(exc))
        verdict = screen(event, payload, trigger_label)
        if not verdict.keep:
            return _answer(verdict.status, verdict.message)
        new = NewDelivery(delivery, event, payload["action"], text, body_digest(body))
        try:
            fresh = await writer.keep(new)
        except (BurndownError, TimeoutError) as exc:
            log.error("delivery not stored", delivery=delivery, error=str(exc))
            return _answer(503, "the delivery could not be stored; redeliver it later")
        if not fresh:
            return _answer(200, "duplicate delivery: already received")
        return _answer(202, "accepted")

    # a plain Starlette route, matched first: the body is read by hand, so FastAPI's
    # parameter solving would be work for nothing on the busiest path
    app.router.routes.insert(0, Route("/webhooks/github", github_webhook, methods=["POST"]))
    return app


async def _admit(request: Request, secret: str) -> tuple[str, str, str, bytes]:
    """The delivery id, event, body text and raw body of a signed JSON delivery."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == FORM:
        raise _Refused(
            415,
            "this webhook sends form data: choose Content type application/json in the "
            "webhook's settings on GitHub",
        )
    if ctype not in ("", "application/json"):
        raise _Refused(415, f"the body must be application/json, not {ctype}")
    body = await _read_capped(request)
    header = request.headers.get("x-hub-signature-256")
    ok = (
        signature_ok(secret, body, header)
        if len(body) < ON_THREAD
        else await run_in_threadpool(signature_ok, secret, body, header)
    )
    if not ok:
        log.warning("webhook signature refused", delivery=request.headers.get("x-github-delivery"))
        raise _Refused(401, "bad or missing X-Hub-Signature-256")
    event = request.headers.get("x-github-event", "")
    delivery = request.headers.get("x-github-delivery", "")
    if not EVENT.fullmatch(event) or not DELIVERY_ID.fullmatch(delivery):
        raise _Refused(400, "missing or malformed X-GitHub-Event or X-GitHub-Delivery")
    return delivery, event, decode(body), body


async def _read_capped(request: Request) -> bytes:
    """The body, read no further than `MAX_BODY`."""
    length = request.headers.get("content-length")
    if length is not None and not (length.isascii() and length.isdigit()):
        raise _Refused(400, "a malformed Content-Length")
    if length is not None and int(length) > MAX_BODY:
        raise _Refused(413, f"the body is larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _Refused(413, f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@asynccontextmanager
async def _closing(writer: DeliveryWriter) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await run_in_threadpool(writer.close)


def _answer(status: int, message: str) -> Response:
    return Response(_body(message), status_code=status, media_type="application/json")


@lru_cache(maxsize=256)
def _body(message: str) -> bytes:
    """`{"message": ...}` as JSONResponse encodes it; the few answers are encoded once."""
    return json.dumps({"message": message}, ensure_ascii=False, separators=(",", ":")).encode()
