"""Issue events (who added or removed a label, when) and reactions on issues."""

from __future__ import annotations

import itertools
from datetime import datetime

from tests.support.github_standin.rest import Call, Reply, Router, invalid, not_found, paginate
from tests.support.github_standin.state import Issue, IssueEvent, Repo, iso, now, parse_iso

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


def register(router: Router) -> None:
    router.add("GET", r"/issues/(?P<n>\d+)/events", list_events)
    router.add("GET", "/issues/comments", list_repo_comments)
    router.add("GET", r"/issues/(?P<n>\d+)/reactions", list_reactions)
    router.add("POST", r"/issues/(?P<n>\d+)/reactions", create_reaction)


def labels_changed(issue: Issue, before: list[str], actor: str, ids: itertools.count[int]) -> None:
    """Record `labeled` / `unlabeled` events for the difference to `before`."""
    was, now_on = {n.lower() for n in before}, {n.lower() for n in issue.labels}
    for name in issue.labels:
        if name.lower() not in was:
            issue.events.append(IssueEvent(next(ids), "labeled", actor, name, now()))
    for name in before:
        if name.lower() not in now_on:
            issue.events.append(IssueEvent(next(ids), "unlabeled", actor, name, now()))


def _issue(call: Call) -> Issue:
    issue = call.repo.issues.get(call.int_arg("n"))
    if issue is None:
        raise not_found()
    return issue


def list_events(call: Call) -> Reply:
    issue = _issue(call)
    return paginate(call, [_event(call, call.repo, issue, e) for e in issue.events])


def _event(call: Call, repo: Repo, issue: Issue, e: IssueEvent) -> dict[str, object]:
    label = repo.labels.get(e.label.lower())
    return {
        "id": e.id,
        "node_id": f"LE_{e.id}",
        "url": f"{call.render.api}/repos/{repo.full_name}/issues/events/{e.id}",
        "actor": call.render.user(e.actor),
        "event": e.event,
        "commit_id": None,
        "commit_url": None,
        "created_at": iso(e.created_at),
        "label": {"name": e.label, "color": label.color if label else "ededed"},
        "performed_via_github_app": None,
    }


def list_repo_comments(call: Call) -> Reply:
    """`GET /repos/{o}/{r}/issues/comments`: every comment of the repository, `since` an
    update time, sorted by `created` (default) or `updated`, ascending unless asked."""
    query = call.query
    since = parse_iso(query["since"]) if query.get("since") else None
    found = [c for c in call.repo.comments.values() if since is None or c.updated_at >= since]
    key = (lambda c: (c.updated_at, c.id)) if query.get("sort") == "updated" else (lambda c: c.id)
    found.sort(key=key, reverse=query.get("direction") == "desc")
    return paginate(call, [call.render.comment(call.repo, c) for c in found])


def list_reactions(call: Call) -> Reply:
    issue = _issue(call)
    return paginate(call, [_reaction(call, r) for r in issue.reactions])


def create_reaction(call: Call) -> Reply:
    """201 for a new reaction; 200 with the existing one when the user already reacted so."""
    issue = _issue(call)
    content = str(call.fields().get("content", ""))
    if content not in REACTIONS:
        raise invalid([{"resource": "Reaction", "code": "invalid", "field": "content"}])
    for r in issue.reactions:
        if r[1].lower() == call.login.lower() and r[2] == content:
            return Reply(200, _reaction(call, r))
    reaction = (next(call.state.ids), call.login, content, now())
    issue.reactions.append(reaction)
    return Reply(201, _reaction(call, reaction))


def _reaction(call: Call, r: tuple[int, str, str, datetime]) -> dict[str, object]:
    return {
        "id": r[0],
        "node_id": f"REA_{r[0]}",
        "user": call.render.user(r[1]),
        "content": r[2],
        "created_at": iso(r[3]),
    }
