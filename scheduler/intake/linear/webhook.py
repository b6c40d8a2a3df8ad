"""Linear's webhooks: the checks Linear's own SDK makes, and which deliveries are triggers.

`Linear-Signature` is the hex HMAC-SHA256 of the raw body with the webhook's signing secret;
the body's `webhookTimestamp` (or the `Linear-Timestamp` header), in milliseconds, must be
within a minute of now. Triggers: the trigger label newly on an issue (in `data.labelIds`, not
in `updatedFrom.labelIds`), and agent sessions (`AgentSessionEvent` created or prompted).
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from scheduler.intake.shapes import IGNORE, Verdict

WINDOW_MS = 60_000


@dataclass(frozen=True)
class Refused(Exception):
    """A delivery refused before its content is trusted: the HTTP status and why."""

    status: int
    message: str


def sign(secret: str, body: bytes) -> str:
    """The `Linear-Signature` value Linear sends for `body`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verified_payload(
    secret: str, body: bytes, signature: str | None, header_ts: str | None, now_ms: int
) -> dict[str, Any]:
    """The body, once its signature and timestamp pass; `Refused` otherwise."""
    if not signature:
        raise Refused(400, "Missing webhook signature")
    if not hmac.compare_digest(sign(secret, body), signature.strip()):
        raise Refused(401, "Invalid webhook signature")
    try:
        payload = json.loads(body)
    except ValueError:
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise Refused(400, "the body is not a JSON object")
    stamp = payload.get("webhookTimestamp", header_ts)
    try:
        ms = int(stamp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Refused(400, f"Invalid webhook timestamp: {stamp}") from None
    if abs(now_ms - ms) > WINDOW_MS:
        raise Refused(401, "Invalid webhook timestamp")
    return payload


def screen(payload: dict[str, Any], trigger_label: str) -> Verdict:
    """Keep a trigger (label added, agent session created or prompted); drop the rest."""
    kind, action = payload.get("type"), payload.get("action")
    if kind == "AgentSessionEvent" and action in ("created", "prompted"):
        return Verdict(True, 202, "accepted")
    if kind == "Issue" and action == "update" and label_added(payload, trigger_label):
        return Verdict(True, 202, "accepted")
    return Verdict(False, IGNORE, f"ignored: {kind}.{action}")


def label_added(payload: dict[str, Any], trigger_label: str) -> bool:
    """Whether this Issue update put the trigger label on (labels by id; names from `data`)."""
    data, before = payload.get("data") or {}, payload.get("updatedFrom") or {}
    if "labelIds" not in before:
        return False  # the labels did not change
    added = set(data.get("labelIds") or []) - set(before.get("labelIds") or [])
    names = {lb.get("id"): str(lb.get("name", "")) for lb in data.get("labels") or []}
    return any(names.get(i, "").lower() == trigger_label.lower() for i in added)


def is_stop(payload: dict[str, Any]) -> bool:
    """A prompt that asks the agent to stop (`agentActivity.signal == "stop"`)."""
    activity = payload.get("agentActivity") or {}
    return payload.get("action") == "prompted" and activity.get("signal") == "stop"
