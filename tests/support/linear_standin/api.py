"""The stand-in's resolvers: graphql-core executes each (validated) document against Linear's
schema with `Root` as both query and mutation root. Errors are raised as `Refusal`, which the
server answers in Linear's shape (`errors[].extensions.code`)."""

from datetime import datetime
from typing import Any

from tests.support.linear_standin.state import (
    Activity,
    Attachment,
    Comment,
    Workspace,
    new_id,
    now_iso,
)

ACTIVITY_TYPES = {
    "thought": ("body",),
    "elicitation": ("body",),
    "response": ("body",),
    "error": ("body",),
    "action": ("action", "parameter"),
}


class Refusal(Exception):
    """A refused operation: Linear's message and extension code."""

    def __init__(self, message: str, code: str = "INVALID_INPUT") -> None:
        super().__init__(message)
        self.code = code


def _when(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _compare(op: str, value: Any, wanted: Any) -> bool:
    if op == "eq":
        return bool(value == wanted)
    if op == "neq":
        return bool(value != wanted)
    if op == "in":
        return value in wanted
    if op == "nin":
        return value not in wanted
    if op == "eqIgnoreCase":
        return str(value).lower() == str(wanted).lower()
    if op == "null":
        return (value is None) == bool(wanted)
    if value is None:
        return False
    a, b = (_when(value), _when(wanted)) if isinstance(wanted, str) else (value, wanted)
    return bool({"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op])


OPS = {"eq", "neq", "in", "nin", "eqIgnoreCase", "null", "gt", "gte", "lt", "lte"}


def matches(view: Any, flt: dict[str, Any]) -> bool:
    """Linear's filter semantics on a view, for the comparators and nestings used here."""
    for key, cond in flt.items():
        if key in OPS:
            ok = _compare(key, view, cond)
        elif key == "and":
            ok = all(matches(view, c) for c in cond)
        elif key == "or":
            ok = any(matches(view, c) for c in cond)
        elif key == "some":
            ok = any(matches(n, cond) for n in (view or {}).get("nodes", []))
        elif key == "every":
            ok = all(matches(n, cond) for n in (view or {}).get("nodes", []))
        else:
            ok = matches(view.get(key) if isinstance(view, dict) else None, cond)
        if not ok:
            return False
    return True


class Root:
    """Query and Mutation fields of the stand-in (graphql-core calls them with `info`)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # queries

    def issue(self, _info: Any, id: str) -> dict[str, Any]:
        found = self.ws.find_issue(id)
        if found is None:
            raise Refusal("Entity not found: Issue")
        return self.ws.issue_view(found)

    def viewer(self, _info: Any) -> dict[str, Any]:
        with self.ws.lock:
            found = self.ws.users.get(self.ws.viewer)
        if found is None:
            raise Refusal("Authentication required, not authenticated", "AUTHENTICATION_ERROR")
        return self.ws.user_view(found)

    def user(self, _info: Any, id: str) -> dict[str, Any]:
        with self.ws.lock:
            found = self.ws.users.get(id)
        if found is None:
            raise Refusal("Entity not found: User")
        return self.ws.user_view(found)

    def issues(
        self,
        _info: Any,
        first: int = 50,
        after: str | None = None,
        filter: dict[str, Any] | None = None,
        orderBy: str = "createdAt",
        **_: Any,
    ) -> dict[str, Any]:
        with self.ws.lock:
            views = [self.ws.issue_view(i) for i in self.ws.issues.values()]
        views = [v for v in views if matches(v, filter or {})]
        views.sort(key=lambda v: (_when(v[orderBy]), v["id"]), reverse=True)  # newest first
        start = int(after) if after else 0
        page = views[start : start + first]
        more = start + first < len(views)
        return {
            "nodes": page,
            "pageInfo": {
                "hasNextPage": more,
                "endCursor": str(start + len(page)) if page else None,
                "hasPreviousPage": start > 0,
                "startCursor": str(start) if page else None,
            },
        }

    # mutations

    def commentCreate(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        issue = self.ws.find_issue(input["issueId"])
        if issue is None:
            raise Refusal("Entity not found: Issue")
        with self.ws.lock:
            cid = input.get("id") or new_id()
            if cid in self.ws.comments:
                raise Refusal("Comment with this id already exists")
            comment = Comment(cid, issue.id, input.get("body") or "", self.ws.viewer)
            self.ws.comments[cid] = comment
        return {"success": True, "lastSyncId": 1, "comment": self.ws.comment_view(comment)}

    def commentUpdate(self, _info: Any, id: str, input: dict[str, Any], **_: Any) -> Any:
        with self.ws.lock:
            comment = self.ws.comments.get(id)
            if comment is None:
                raise Refusal("Entity not found: Comment")
            if "body" in input:
                comment.body, comment.updated_at = input["body"], now_iso()
                comment.edits += 1
        return {"success": True, "lastSyncId": 1, "comment": self.ws.comment_view(comment)}

    def attachmentLinkURL(
        self, _info: Any, issueId: str, url: str, id: str | None = None, title: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:  # fmt: skip
        issue = self.ws.find_issue(issueId)
        if issue is None:
            raise Refusal("Entity not found: Issue")
        with self.ws.lock:  # Linear keeps one attachment per (issue, url): a second updates it
            same = [
                a for a in self.ws.attachments.values() if (a.issue_id, a.url) == (issue.id, url)
            ]
            att = same[0] if same else Attachment(id or new_id(), issue.id, url, title or url)
            att.title = title or att.title
            self.ws.attachments[att.id] = att
        return {"success": True, "lastSyncId": 1, "attachment": {"id": att.id, "url": att.url}}

    def agentActivityCreate(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        content = input.get("content") or {}
        kind = content.get("type")
        if kind not in ACTIVITY_TYPES:
            raise Refusal(f"Invalid agent activity content type: {kind}")
        missing = [k for k in ACTIVITY_TYPES[kind] if not content.get(k)]
        if missing:
            raise Refusal(f"Agent activity of type {kind} needs {', '.join(missing)}")
        with self.ws.lock:
            session = self.ws.sessions.get(input["agentSessionId"])
            if session is None:
                raise Refusal("Entity not found: AgentSession")
            aid = input.get("id") or new_id()
            if any(a.id == aid for a in self.ws.activities):
                raise Refusal("Agent activity with this id already exists")
            act = Activity(aid, session.id, content, input.get("signal"), self.ws.viewer)
            self.ws.activities.append(act)
            session.status = {"response": "complete", "error": "error"}.get(kind, "active")
        return {"success": True, "lastSyncId": 1, "agentActivity": {"id": aid}}
