"""The webhook bodies Linear sends, built from the workspace (shaped as the schema's webhook
payload types and the SDK's examples: `EntityWebhookPayload` with `IssueWebhookPayload` data,
`AgentSessionEventWebhookPayload`), checked against the schema, and signed as Linear signs."""

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from tests.support.linear_standin.schema import problems
from tests.support.linear_standin.state import (
    APP_CLIENT,
    ORG,
    Issue,
    Session,
    User,
    Workspace,
    now_iso,
)


def signed(secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery, as Linear sends it."""
    body = json.dumps(payload).encode()
    return body, {
        "Content-Type": "application/json; charset=utf-8",
        "Linear-Delivery": str(uuid.uuid4()),
        "Linear-Event": str(payload.get("type")),
        "Linear-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "User-Agent": "Linear-Webhook",
    }


def _checked(type_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    found = problems(type_name, payload)
    if found:
        raise AssertionError(f"the stand-in built a {type_name} Linear would not: {found[:5]}")
    return payload


def _envelope(kind: str, action: str, actor: User, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": action,
        "type": kind,
        "actor": _actor(actor),
        "createdAt": now_iso(),
        "data": data,
        "organizationId": ORG,
        "webhookId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"webhook:{kind}")),
        "webhookTimestamp": int(time.time() * 1000),
    }


def _actor(user: User) -> dict[str, Any]:
    return {**_user(user), "type": "user"}


def _user(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "email": user.email, "url": _user_url(user)}


def _user_url(user: User) -> str:
    return f"https://linear.app/acme/profiles/{user.name.split()[0].lower()}"


def issue_data(ws: Workspace, issue: Issue) -> dict[str, Any]:
    """`IssueWebhookPayload`: every non-null field, and the ones intake reads."""
    with ws.lock:
        labels = [
            {"id": lb.id, "name": lb.name, "color": lb.color}
            for lb in (ws.labels[i] for i in issue.label_ids)
        ]
        state_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"state:{issue.team.id}:{issue.state_type}"))
        return {
            "id": issue.id,
            "createdAt": issue.created_at,
            "updatedAt": issue.updated_at,
            "number": issue.number,
            "identifier": issue.identifier,
            "title": issue.title,
            "description": issue.description,
            "priority": 0,
            "priorityLabel": "No priority",
            "prioritySortOrder": 0,
            "sortOrder": -float(issue.number),
            "previousIdentifiers": [],
            "reactionData": {},
            "subscriberIds": [issue.creator_id],
            "creatorId": issue.creator_id,
            "delegateId": issue.delegate_id,
            "teamId": issue.team.id,
            "team": {"id": issue.team.id, "key": issue.team.key, "name": issue.team.name},
            "stateId": state_id,
            "state": {
                "id": state_id,
                "name": issue.state_type.title(),
                "type": issue.state_type,
                "color": "#e2e2e2",
            },
            "labelIds": list(issue.label_ids),
            "labels": labels,
            "url": issue.url,
        }


def issue_updated(
    ws: Workspace, issue: Issue, actor: User, before: dict[str, Any]
) -> dict[str, Any]:
    """`Issue` `update`, with `updatedFrom` holding the previous values of what changed."""
    payload = _envelope("Issue", "update", actor, issue_data(ws, issue))
    payload["updatedFrom"] = before
    payload["url"] = issue.url
    return _checked("EntityWebhookPayload", payload)


def session_event(
    ws: Workspace,
    session: Session,
    action: str,
    *,
    activity: dict[str, Any] | None = None,
    prompt_context: str | None = None,
) -> dict[str, Any]:
    """`AgentSessionEvent` `created` (with its prompt context) or `prompted` (its activity)."""
    with ws.lock:
        issue = ws.issues[session.issue_id]
        creator = ws.users[session.creator_id]
        payload: dict[str, Any] = {
            "type": "AgentSessionEvent",
            "action": action,
            "createdAt": now_iso(),
            "organizationId": ORG,
            "oauthClientId": APP_CLIENT,
            "appUserId": session.app_user_id,
            "webhookId": str(uuid.uuid5(uuid.NAMESPACE_URL, "webhook:AgentSessionEvent")),
            "webhookTimestamp": int(time.time() * 1000),
            "agentSession": {
                "id": session.id,
                "type": "issue",
                "status": session.status,
                "appUserId": session.app_user_id,
                "organizationId": ORG,
                "createdAt": session.created_at,
                "updatedAt": now_iso(),
                "creatorId": creator.id,
                "creator": _user(creator),
                "issueId": issue.id,
                "issue": {
                    "id": issue.id,
                    "identifier": issue.identifier,
                    "title": issue.title,
                    "description": issue.description,
                    "url": issue.url,
                    "teamId": issue.team.id,
                    "team": {"id": issue.team.id, "key": issue.team.key, "name": issue.team.name},
                },
                "url": f"{issue.url}#agent-session-{session.id}",
            },
        }
    if activity is not None:
        payload["agentActivity"] = activity
    if prompt_context is not None:
        payload["promptContext"] = prompt_context
    return _checked("AgentSessionEventWebhookPayload", payload)
