"""Linear deliveries to tickets: the trigger label added by a trusted member, or the agent
made an issue's delegate (an agent session), becomes a ticket of the mapped repository,
queued once; a stop signal cancels it. Whatever is refused (an untrusted member, no mapped
repository, one Burndown cannot reach) is said on the issue (or the session) and recorded.

A Linear error here propagates: the delivery stays pending and the reconciler sends it again.
"""

from datetime import UTC, datetime
from typing import Any

from scheduler.intake.linear.mapping import repo_for
from scheduler.intake.linear.webhook import is_stop, label_added
from scheduler.intake.shapes import Handled, IntakeDeps
from worker import texts
from worker.errors import GitHubError, LinearNotFound
from worker.linear.protocol import LinearClient, LinearIssue, LinearUser
from worker.logs import get_logger
from worker.store.liveness import request_cancel
from worker.store.models import DeliveryStatus, Provider, RunKind, Ticket
from worker.store.repo import queue_ticket
from worker.store.trackers import (
    find_session_ticket,
    find_tracker_ticket,
    has_pull,
    upsert_tracker_ticket,
)
from worker.tracker import LinearTracker, linear_text

log = get_logger(__name__)
NOT_CONFIGURED = "Linear is not configured: set BURNDOWN_LINEAR_API_KEY"


def handle(event: str, payload: dict[str, Any], deps: IntakeDeps) -> Handled:
    """Intake's handling of a stored Linear delivery (`linear.<type>`)."""
    kind, action = payload.get("type"), payload.get("action")
    if deps.linear is None:
        return Handled(DeliveryStatus.REJECTED, NOT_CONFIGURED)
    if kind == "Issue" and action == "update":
        return _labelled(payload, deps, deps.linear)
    if kind == "AgentSessionEvent" and action == "created":
        return _delegated(payload, deps, deps.linear)
    if kind == "AgentSessionEvent" and action == "prompted":
        return _prompted(payload, deps, deps.linear)
    return Handled(DeliveryStatus.IGNORED, f"no handler for {event}.{action}")


class _Say:
    """Where a refusal is said: a comment on the issue, or the agent session's error."""

    def __init__(self, linear: LinearClient, issue_id: str, session: str | None) -> None:
        self.linear, self.issue_id, self.session = linear, issue_id, session

    def __call__(self, text: str, key: str) -> None:
        if self.session:
            content = {"type": "error", "body": text}
            self.linear.agent_activity(self.session, content, key=key)
        else:
            self.linear.comment(self.issue_id, text, key=key)


def _labelled(payload: dict[str, Any], deps: IntakeDeps, linear: LinearClient) -> Handled:
    if not label_added(payload, deps.trigger_label):
        return Handled(DeliveryStatus.IGNORED, "not a trigger")
    data = payload.get("data") or {}
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return Handled(DeliveryStatus.REJECTED, "refused: an Issue update without data.id")
    issue_id = data["id"]
    if _acted_on(deps, issue_id, data.get("updatedAt")):
        return Handled(DeliveryStatus.IGNORED, "this label was acted on already")
    actor = str((payload.get("actor") or {}).get("id") or "")
    say = _Say(linear, issue_id, None)
    return _take(deps, linear, issue_id, actor, say, session=None)


def _acted_on(deps: IntakeDeps, issue_id: str, labelled_at: Any) -> bool:
    """Whether the ticket was queued after this label went on (a webhook and a poll of the
    same label, or a redelivery after the run ended)."""
    ticket = find_tracker_ticket(deps.engine, Provider.LINEAR, issue_id)
    if ticket is None or ticket.queued_at is None or not isinstance(labelled_at, str):
        return False
    try:
        when = datetime.fromisoformat(labelled_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    queued = ticket.queued_at if ticket.queued_at.tzinfo else ticket.queued_at.replace(tzinfo=UTC)
    return queued >= when


def _delegated(payload: dict[str, Any], deps: IntakeDeps, linear: LinearClient) -> Handled:
    session = payload.get("agentSession") or {}
    if not isinstance(session, dict) or not isinstance(session.get("id"), str):
        return Handled(DeliveryStatus.REJECTED, "refused: an agent session event without its id")
    sid, issue_id = session["id"], str(session.get("issueId") or "")
    # First things first: Linear shows the session as unresponsive without an activity soon.
    linear.agent_activity(sid, {"type": "thought", "body": texts.linear_picked_up()}, key="ack")
    if not issue_id:
        _Say(linear, "", sid)("Burndown works on issues; this session has none.", "no-issue")
        return Handled(DeliveryStatus.REJECTED, "an agent session without an issue")
    who = str(session.get("creatorId") or "")
    return _take(deps, linear, issue_id, who, _Say(linear, issue_id, sid), session=sid)


def _take(
    deps: IntakeDeps,
    linear: LinearClient,
    issue_id: str,
    who: str,
    say: _Say,
    *,
    session: str | None,
) -> Handled:
    """The trust check, the repository, then the ticket queued once."""
    user = _member(linear, who)
    if user is None or not deps.linear_trust.allows(user):
        name = user.name if user else "there"
        say(texts.linear_untrusted(name, deps.trigger_label), f"untrusted-{who}")
        why = f"{name} ({user.role if user else 'no person'}) is not a trusted Linear member"
        return Handled(DeliveryStatus.REJECTED, why)
    try:
        issue = linear.issue(issue_id)
    except LinearNotFound:
        return Handled(DeliveryStatus.REJECTED, f"Linear has no issue {issue_id}")
    repo = repo_for(issue, deps.linear_repos)
    if repo is None:
        say(texts.linear_unmapped(issue.team.key), f"unmapped-{issue.team.key}")
        return Handled(DeliveryStatus.REJECTED, f"team {issue.team.key} maps to no repository")
    try:
        deps.github.get_repo(repo)
    except GitHubError as exc:
        say(texts.linear_repo_unreachable(repo, str(exc)), f"unreachable-{repo}")
        return Handled(DeliveryStatus.REJECTED, f"{repo}: {exc}")
    ticket = _ticket(deps, issue, repo, user.id, session)
    assert ticket.id is not None
    queued = queue_ticket(deps.engine, ticket.id, requested_by=user.id)
    if queued:
        tracker = LinearTracker(linear, deps.linear_trust)
        tracker.status(ticket, texts.status_queued(user.name))
        deps.enqueue_run(ticket.id)
    log.info("linear ticket", key=issue.identifier, repo=repo, queued=queued, session=session)
    note = "queued" if queued else "already queued or running"
    return Handled(DeliveryStatus.PROCESSED, note, ticket.id)


def _ticket(
    deps: IntakeDeps, issue: LinearIssue, repo: str, who: str, session: str | None
) -> Ticket:
    return upsert_tracker_ticket(
        deps.engine,
        Provider.LINEAR,
        tracker_id=issue.id,
        tracker_key=issue.identifier,
        repo=repo,
        number=issue.number,
        title=issue.title,
        body=issue.description,
        url=issue.url,
        labeled_by=who,
        agent_session_id=session,
    )


def _prompted(payload: dict[str, Any], deps: IntakeDeps, linear: LinearClient) -> Handled:
    sid = str((payload.get("agentSession") or {}).get("id"))
    ticket = find_session_ticket(deps.engine, sid)
    if ticket is None or ticket.id is None:
        return Handled(DeliveryStatus.IGNORED, "a session Burndown has no ticket for")
    if is_stop(payload):
        found = request_cancel(deps.engine, ticket.id, "stopped from Linear")
        if found.state == "queued":
            content = {"type": "response", "body": linear_text(texts.cancelled_queued())}
            linear.agent_activity(sid, content, key=f"cancel-{ticket.attempts}")
        note = {"queued": "cancelled", "running": f"run {found.run_id} asked to stop"}
        status = DeliveryStatus.PROCESSED if found.state != "idle" else DeliveryStatus.IGNORED
        return Handled(status, note.get(found.state, "nothing to stop"), ticket.id)
    return _follow_up(payload, deps, linear, ticket)


def _follow_up(
    payload: dict[str, Any], deps: IntakeDeps, linear: LinearClient, ticket: Ticket
) -> Handled:
    """A trusted member's prompt: a follow-up run on the session's pull request (a new first
    run when there is none yet); while a run is on, it is answered, not queued."""
    assert ticket.id is not None and ticket.agent_session_id is not None
    sid, activity = ticket.agent_session_id, payload.get("agentActivity") or {}
    who = str(activity.get("userId") or "")
    body = str((activity.get("content") or {}).get("body") or "").strip()
    key = f"prompt-{activity.get('id')}"
    user = _member(linear, who)
    if user is None or not deps.linear_trust.allows(user):
        name = user.name if user else "there"
        _Say(linear, "", sid)(texts.linear_untrusted(name, deps.trigger_label), key)
        return Handled(DeliveryStatus.REJECTED, f"{name} is not a trusted Linear member")
    kind = RunKind.FOLLOWUP if has_pull(deps.engine, ticket.id) else RunKind.INITIAL
    if not body or not queue_ticket(
        deps.engine, ticket.id, kind=kind, feedback=body, requested_by=user.id
    ):
        busy = {"type": "thought", "body": texts.linear_busy()}
        linear.agent_activity(sid, busy, key=key)
        return Handled(DeliveryStatus.IGNORED, "a prompt while a run is on", ticket.id)
    LinearTracker(linear, deps.linear_trust).status(ticket, texts.status_queued(user.name))
    deps.enqueue_run(ticket.id)
    return Handled(DeliveryStatus.PROCESSED, f"queued a {kind} run", ticket.id)


def _member(linear: LinearClient, user_id: str) -> LinearUser | None:
    """The workspace member, or None (no id, or not a member: an app, a removed user)."""
    if not user_id:
        return None
    try:
        return linear.user(user_id)
    except LinearNotFound:
        return None
