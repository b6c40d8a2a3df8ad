"""`LinearClient` over httpx. Transport errors and GraphQL errors become `LinearError`; a
rate-limited answer is waited out (see `worker.linear.ratelimit`) and sent again."""

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from worker.errors import LinearError, LinearNotFound
from worker.linear import documents as doc
from worker.linear.protocol import LabelAdded, LinearIssue, LinearTeam, LinearUser, key_id
from worker.linear.ratelimit import is_rate_limited, limit_headers, report, wait_seconds
from worker.logs import get_logger

log = get_logger(__name__)

MAX_PAGES = 20


class HttpLinearClient:
    """Linear's GraphQL API (or the stand-in). A personal API key (`lin_api_...`) is sent as
    it is; any other credential is an OAuth token, sent as `Bearer`."""

    def __init__(
        self,
        api_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 30.0,
        max_tries: int = 5,
        longest_wait: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        key = api_key.get_secret_value()
        auth = key if key.startswith("lin_api_") else f"Bearer {key}"
        self._http = httpx.Client(
            timeout=timeout,
            headers={"Authorization": auth, "Content-Type": "application/json"},
            transport=transport,
        )
        self._url, self._tries, self._longest, self._sleep = api_url, max_tries, longest_wait, sleep

    def close(self) -> None:
        self._http.close()

    def call(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Send one document; its `data`. `LinearError` when Linear refuses it."""
        for attempt in range(1, self._tries + 1):
            try:
                r = self._http.post(self._url, json={"query": document, "variables": variables})
                body = r.json() if r.content else {}
            except (httpx.HTTPError, ValueError) as exc:
                raise LinearError(f"Linear did not answer: {type(exc).__name__}: {exc}") from exc
            limited = is_rate_limited(r.status_code, body)
            if limited and attempt == self._tries:
                break
            if limited:
                wait = wait_seconds(r.headers, time.time() * 1000, 2.0**attempt, self._longest)
                why = {"status": r.status_code, "code": "RATELIMITED", **limit_headers(r.headers)}
                log.warning("linear rate limited; waiting", seconds=wait, attempt=attempt)
                report(wait, {"service": "linear", **why})
                self._sleep(wait)
                continue
            return _data(r.status_code, body)
        raise LinearError("Linear kept answering RATELIMITED", code="RATELIMITED")

    def issue(self, issue_id: str) -> LinearIssue:
        found = self.call(doc.ISSUE, {"id": issue_id}).get("issue")
        if not found:
            raise LinearNotFound(f"no Linear issue {issue_id}")
        return issue_of(found)

    def user(self, user_id: str) -> LinearUser:
        u = self.call(doc.USER, {"id": user_id}).get("user")
        if not u:
            raise LinearNotFound(f"no Linear user {user_id}")
        return LinearUser(
            id=u["id"],
            name=u.get("name") or "",
            display_name=u.get("displayName") or "",
            email=u.get("email") or "",
            admin=bool(u.get("admin")),
            guest=bool(u.get("guest")),
            active=bool(u.get("active", True)),
        )

    def comment(self, issue_id: str, body: str, key: str | None = None) -> str:
        if key is None:
            made = self.call(doc.COMMENT_CREATE, {"input": {"issueId": issue_id, "body": body}})
            return str(made["commentCreate"]["comment"]["id"])
        cid = key_id("comment", issue_id, key)
        try:  # the keyed comment is edited when it exists, created with its id when not
            self.call(doc.COMMENT_UPDATE, {"id": cid, "input": {"body": body}})
        except LinearNotFound:
            self.call(doc.COMMENT_CREATE, {"input": {"id": cid, "issueId": issue_id, "body": body}})
        return cid

    def attach_url(self, issue_id: str, url: str, title: str) -> None:
        aid = key_id("attachment", issue_id, url)
        self.call(doc.ATTACH_URL, {"id": aid, "issueId": issue_id, "url": url, "title": title})

    def agent_activity(
        self, session_id: str, content: dict[str, Any], key: str | None = None
    ) -> None:
        entry: dict[str, Any] = {"agentSessionId": session_id, "content": content}
        if key is not None:
            entry["id"] = key_id("activity", session_id, key)
        try:
            self.call(doc.AGENT_ACTIVITY, {"input": entry})
        except LinearError as exc:
            if key is None or "already exists" not in str(exc):
                raise  # a keyed activity already written is done, not failed

    def team_issues(
        self, team_key: str, *, since: datetime | None, label: str | None = None
    ) -> list[LinearIssue]:
        flt: dict[str, Any] = {"team": {"key": {"eq": team_key}}}
        if since is not None:
            flt["updatedAt"] = {"gt": since.isoformat()}
        if label is not None:
            flt["labels"] = {"some": {"name": {"eqIgnoreCase": label}}}
        found: list[LinearIssue] = []
        after: str | None = None
        for _ in range(MAX_PAGES):
            page = self.call(doc.TEAM_ISSUES, {"filter": flt, "after": after})["issues"]
            found += [issue_of(n) for n in page["nodes"]]
            info = page["pageInfo"]
            if not info.get("hasNextPage"):
                break
            after = info.get("endCursor")
        return sorted(found, key=lambda i: i.updated_at or datetime.min)

    def label_history(self, issue_id: str) -> list[LabelAdded]:
        issue = self.call(doc.LABEL_HISTORY, {"id": issue_id}).get("issue") or {}
        found = [
            LabelAdded(
                id=n["id"],
                actor_id=(n.get("actor") or {}).get("id"),
                labels=[lb["name"] for lb in n.get("addedLabels") or []],
                created_at=n["createdAt"],
            )
            for n in (issue.get("history") or {}).get("nodes") or []
            if n.get("addedLabels")
        ]
        return sorted(found, key=lambda h: h.created_at)


def _data(status: int, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise LinearError(f"Linear answered {status} with no JSON object")
    errors = body.get("errors") or []
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        ext = first.get("extensions") or {}
        message = str(ext.get("userPresentableMessage") or first.get("message") or errors)
        code = ext.get("code")
        cls = LinearNotFound if "not found" in message.lower() else LinearError
        raise cls(f"Linear refused ({status}, {code}): {message}", code=code)
    if status >= 400 or not isinstance(body.get("data"), dict):
        raise LinearError(f"Linear answered {status}: {str(body)[:300]}")
    data: dict[str, Any] = body["data"]
    return data


def issue_of(node: dict[str, Any]) -> LinearIssue:
    """A `LinearIssue` from the `IssueFields` fragment's answer."""
    try:
        return LinearIssue(
            id=node["id"],
            identifier=node["identifier"],
            number=int(node["number"]),
            title=node.get("title") or "",
            description=node.get("description") or "",
            url=node.get("url") or "",
            team=LinearTeam.model_validate(node["team"]),
            state_type=(node.get("state") or {}).get("type") or "",
            labels=[lb["name"] for lb in (node.get("labels") or {}).get("nodes") or []],
            updated_at=node.get("updatedAt"),
            completed_at=node.get("completedAt"),
            canceled_at=node.get("canceledAt"),
        )
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise LinearError(f"Linear answered an issue we cannot read: {exc}") from exc
