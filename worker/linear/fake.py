"""An in-memory `LinearClient` for unit tests, scriptable to fail."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from worker.errors import LinearError, LinearNotFound
from worker.linear.protocol import LabelAdded, LinearIssue, LinearUser, key_id


@dataclass
class FakeLinear:
    """Issues, users, comments, attachments and agent activities held in dicts."""

    issues: dict[str, LinearIssue] = field(default_factory=dict)
    users: dict[str, LinearUser] = field(default_factory=dict)
    comments: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (issue, body)
    edits: list[tuple[str, str]] = field(default_factory=list)  # (comment id, body), in order
    attachments: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> issue...
    activities: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    history: dict[str, list[LabelAdded]] = field(default_factory=dict)  # by issue id
    fail: dict[str, str] = field(default_factory=dict)  # method name -> error message
    _activity_ids: set[str] = field(default_factory=set)

    def _maybe_fail(self, method: str) -> None:
        if method in self.fail:
            raise LinearError(self.fail[method])

    def issue(self, issue_id: str) -> LinearIssue:
        self._maybe_fail("issue")
        for issue in self.issues.values():
            if issue_id in (issue.id, issue.identifier):
                return issue
        raise LinearNotFound(f"no Linear issue {issue_id}")

    def user(self, user_id: str) -> LinearUser:
        self._maybe_fail("user")
        try:
            return self.users[user_id]
        except KeyError:
            raise LinearNotFound(f"no Linear user {user_id}") from None

    def comment(self, issue_id: str, body: str, key: str | None = None) -> str:
        self._maybe_fail("comment")
        cid = key_id("comment", issue_id, key) if key else f"c{len(self.comments) + 1}"
        self.comments[cid] = (issue_id, body)
        self.edits.append((cid, body))
        return cid

    def attach_url(self, issue_id: str, url: str, title: str) -> None:
        self._maybe_fail("attach_url")
        self.attachments[key_id("attachment", issue_id, url)] = (issue_id, url, title)

    def agent_activity(
        self, session_id: str, content: dict[str, Any], key: str | None = None
    ) -> None:
        self._maybe_fail("agent_activity")
        if key is not None:
            aid = key_id("activity", session_id, key)
            if aid in self._activity_ids:
                return
            self._activity_ids.add(aid)
        self.activities.append((session_id, content))

    def team_issues(
        self, team_key: str, *, since: datetime | None, label: str | None = None
    ) -> list[LinearIssue]:
        self._maybe_fail("team_issues")
        found = [
            i
            for i in self.issues.values()
            if i.team.key == team_key
            and (since is None or (i.updated_at is not None and i.updated_at > since))
            and (label is None or label.lower() in (lb.lower() for lb in i.labels))
        ]
        return sorted(found, key=lambda i: i.updated_at or datetime.min)

    def label_history(self, issue_id: str) -> list[LabelAdded]:
        self._maybe_fail("label_history")
        return sorted(self.history.get(issue_id, []), key=lambda h: h.created_at)

    def comments_on(self, issue_id: str) -> list[str]:
        """The bodies of the issue's comments as they stand now."""
        return [body for issue, body in self.comments.values() if issue == issue_id]
