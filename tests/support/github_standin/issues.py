"""REST endpoints of the stand-in for users, repositories, issues, comments, labels, permissions."""

from __future__ import annotations

import re
from typing import Any

from tests.support.github_standin.events import labels_changed
from tests.support.github_standin.pulls import refresh
from tests.support.github_standin.rest import (
    ApiError,
    Call,
    Reply,
    Router,
    forbidden,
    invalid,
    not_found,
    paginate,
)
from tests.support.github_standin.state import Comment, Issue, Label, at_least, now, parse_iso

DEFAULT_LABELS = (
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
)
"""The labels GitHub gives every new repository."""

_LEGACY = {"maintain": "write", "triage": "read"}
_DOC_LABEL = "https://docs.github.com/rest/reference/issues#create-a-label"


def register(router: Router) -> None:
    router.add("GET", "/user", get_me, scoped=False)
    router.add("GET", "/users/(?P<login>[^/]+)", get_user, scoped=False)
    router.add("GET", "", get_repo)
    router.add("GET", "/issues", list_issues)
    router.add("POST", "/issues", create_issue)
    router.add("GET", r"/issues/(?P<n>\d+)", get_issue)
    router.add("PATCH", r"/issues/(?P<n>\d+)", edit_issue)
    router.add("GET", r"/issues/(?P<n>\d+)/comments", list_comments)
    router.add("POST", r"/issues/(?P<n>\d+)/comments", create_comment)
    router.add("GET", r"/issues/comments/(?P<id>\d+)", get_comment)
    router.add("PATCH", r"/issues/comments/(?P<id>\d+)", edit_comment)
    router.add("DELETE", r"/issues/comments/(?P<id>\d+)", delete_comment)
    router.add("GET", r"/issues/(?P<n>\d+)/labels", issue_labels)
    router.add("POST", r"/issues/(?P<n>\d+)/labels", add_labels)
    router.add("PUT", r"/issues/(?P<n>\d+)/labels", set_labels)
    router.add("DELETE", r"/issues/(?P<n>\d+)/labels/(?P<name>[^/]+)", remove_label)
    router.add("GET", "/labels", list_labels)
    router.add("POST", "/labels", create_label)
    router.add("GET", "/labels/(?P<name>[^/]+)", get_label)
    router.add("PATCH", "/labels/(?P<name>[^/]+)", edit_label)
    router.add("DELETE", "/labels/(?P<name>[^/]+)", delete_label)
    router.add("GET", "/collaborators/(?P<login>[^/]+)/permission", get_permission)


def get_me(call: Call) -> Reply:
    return Reply(200, call.render.user_full(call.login))


def get_user(call: Call) -> Reply:
    if call.args["login"].lower() not in call.state.users:
        raise not_found()
    return Reply(200, call.render.user_full(call.args["login"]))


def get_repo(call: Call) -> Reply:
    return Reply(200, call.render.repo(call.repo, "full", viewer=call.login))


def _issue(call: Call) -> Issue:
    issue = call.repo.issues.get(call.int_arg("n"))
    if issue is None:
        raise not_found()
    return issue


def list_issues(call: Call) -> Reply:
    query = call.query
    state = query.get("state", "open")
    wanted = {name.strip().lower() for name in query.get("labels", "").split(",") if name.strip()}
    since = parse_iso(query["since"]) if query.get("since") else None
    creator = query.get("creator", "").lower()
    issues = [
        issue
        for issue in call.repo.issues.values()
        if state in ("all", issue.state)
        and wanted <= {name.lower() for name in issue.labels}
        and (since is None or issue.updated_at >= since)
        and (not creator or issue.author.lower() == creator)
    ]
    sort = query.get("sort", "created")
    keys: dict[str, Any] = {
        "created": lambda i: i.number,
        "updated": lambda i: (i.updated_at, i.number),
        "comments": lambda i: (len(call.repo.issue_comments(i.number)), i.number),
    }
    issues.sort(key=keys.get(sort, keys["created"]), reverse=query.get("direction") != "asc")
    return paginate(call, [call.render.issue(call.repo, issue) for issue in issues])


def create_issue(call: Call) -> Reply:
    data = call.fields()
    if not data.get("title"):
        raise invalid([{"resource": "Issue", "code": "missing_field", "field": "title"}])
    repo = call.repo
    number, repo.next_number = repo.next_number, repo.next_number + 1
    moment = now()
    title, text = str(data["title"]), data.get("body")
    issue = Issue(number, next(call.state.ids), title, text, call.login, moment, moment)
    if at_least(repo.role(call.login), "triage"):
        issue.labels = _canonical(call, _names(data.get("labels", [])))
        labels_changed(issue, [], call.login, call.state.ids)
    repo.issues[number] = issue
    body = call.render.issue(repo, issue, single=True)
    return Reply(201, body, call.location(body["url"]))


def get_issue(call: Call) -> Reply:
    return Reply(200, call.render.issue(call.repo, _issue(call), single=True))


def edit_issue(call: Call) -> Reply:
    issue, data = _issue(call), call.fields()
    is_author = issue.author.lower() == call.login.lower()
    if not is_author:
        call.need("triage")
    if "title" in data:
        issue.title = str(data["title"])
    if "body" in data:
        issue.body = data["body"]
    if data.get("state") in ("open", "closed"):
        if data["state"] == "open" and issue.pull and issue.pull.merged_at:
            raise invalid([{"resource": "Issue", "code": "invalid", "field": "state"}])
        if issue.pull:  # freeze the branch tips the pull request shows once closed
            refresh(call.render, call.repo, issue.pull, issue.state == "open")
        issue.set_state(data["state"], call.login, data.get("state_reason"))
    if "labels" in data and at_least(call.repo.role(call.login), "triage"):
        before, issue.labels = issue.labels, _canonical(call, _names(data["labels"]))
        labels_changed(issue, before, call.login, call.state.ids)
    issue.touch()
    return Reply(200, call.render.issue(call.repo, issue, single=True))


def list_comments(call: Call) -> Reply:
    issue = _issue(call)
    since = parse_iso(call.query["since"]) if call.query.get("since") else None
    comments = [
        c for c in call.repo.issue_comments(issue.number) if since is None or c.updated_at >= since
    ]
    return paginate(call, [call.render.comment(call.repo, c) for c in comments])


def create_comment(call: Call) -> Reply:
    issue, data = _issue(call), call.fields()
    if not isinstance(data.get("body"), str) or not data["body"]:
        raise invalid([{"resource": "IssueComment", "code": "missing_field", "field": "body"}])
    moment = now()
    comment = Comment(next(call.state.ids), issue.number, data["body"], call.login, moment, moment)
    call.repo.comments[comment.id] = comment
    issue.touch()
    body = call.render.comment(call.repo, comment)
    return Reply(201, body, call.location(body["url"]))


def _comment(call: Call) -> Comment:
    comment = call.repo.comments.get(call.int_arg("id"))
    if comment is None:
        raise not_found()
    return comment


def get_comment(call: Call) -> Reply:
    return Reply(200, call.render.comment(call.repo, _comment(call)))


def edit_comment(call: Call) -> Reply:
    comment, data = _comment(call), call.fields()
    if comment.author.lower() != call.login.lower():
        call.need("write")
    if not isinstance(data.get("body"), str) or not data["body"]:
        raise invalid([{"resource": "IssueComment", "code": "missing_field", "field": "body"}])
    comment.body, comment.updated_at = data["body"], now()
    return Reply(200, call.render.comment(call.repo, comment))


def delete_comment(call: Call) -> Reply:
    comment = _comment(call)
    if comment.author.lower() != call.login.lower():
        call.need("write")
    del call.repo.comments[comment.id]
    return Reply(204)


def _names(value: Any) -> list[str]:
    """Label names from ``["a"]``, ``{"labels": [...]}`` or ``[{"name": "a"}]`` payloads."""
    if isinstance(value, dict):
        value = value.get("labels", [])
    if not isinstance(value, list):
        raise invalid([{"resource": "Label", "code": "invalid", "field": "labels"}])
    return [str(v["name"] if isinstance(v, dict) else v) for v in value]


def _canonical(call: Call, names: list[str]) -> list[str]:
    """Repository spelling of each label (created if missing), without duplicates."""
    out: list[str] = []
    for name in names:
        label = call.repo.label(name, call.state.ids).name
        if label not in out:
            out.append(label)
    return out


def _labels_reply(call: Call, issue: Issue) -> Reply:
    labels = [call.repo.label(name, call.state.ids) for name in issue.labels]
    return Reply(200, [call.render.label(call.repo, label) for label in labels])


def issue_labels(call: Call) -> Reply:
    return _labels_reply(call, _issue(call))


def add_labels(call: Call) -> Reply:
    issue = _issue(call)
    call.need("triage")
    added = _canonical(call, _names(call.json()))
    before = list(issue.labels)
    issue.labels += [name for name in added if name not in issue.labels]
    labels_changed(issue, before, call.login, call.state.ids)
    issue.touch()
    return _labels_reply(call, issue)


def set_labels(call: Call) -> Reply:
    issue = _issue(call)
    call.need("triage")
    before, issue.labels = issue.labels, _canonical(call, _names(call.json()))
    labels_changed(issue, before, call.login, call.state.ids)
    issue.touch()
    return _labels_reply(call, issue)


def remove_label(call: Call) -> Reply:
    issue = _issue(call)
    call.need("triage")
    name = call.args["name"].lower()
    if name not in {label.lower() for label in issue.labels}:
        doc = "https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue"
        raise ApiError(404, {"message": "Label does not exist", "documentation_url": doc})
    before, issue.labels = issue.labels, [lb for lb in issue.labels if lb.lower() != name]
    labels_changed(issue, before, call.login, call.state.ids)
    issue.touch()
    return _labels_reply(call, issue)


def list_labels(call: Call) -> Reply:
    labels = sorted(call.repo.labels.values(), key=lambda label: label.id)
    return paginate(call, [call.render.label(call.repo, label) for label in labels])


def _label(call: Call) -> Label:
    label = call.repo.labels.get(call.args["name"].lower())
    if label is None:
        raise not_found()
    return label


def get_label(call: Call) -> Reply:
    return Reply(200, call.render.label(call.repo, _label(call)))


def edit_label(call: Call) -> Reply:
    label, data = _label(call), call.fields()
    call.need("write")
    color = str(data.get("color", label.color))
    if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
        raise invalid([{"resource": "Label", "code": "invalid", "field": "color"}], _DOC_LABEL)
    new_name = str(data.get("new_name") or label.name)
    if new_name.lower() != label.name.lower() and new_name.lower() in call.repo.labels:
        error = {"resource": "Label", "code": "already_exists", "field": "name"}
        raise invalid([error], _DOC_LABEL)
    for issue in call.repo.issues.values():
        issue.labels = [new_name if name == label.name else name for name in issue.labels]
    del call.repo.labels[label.name.lower()]
    label.name, label.color = new_name, color
    label.description = data.get("description", label.description)
    call.repo.labels[new_name.lower()] = label
    return Reply(200, call.render.label(call.repo, label))


def delete_label(call: Call) -> Reply:
    label = _label(call)
    call.need("write")
    for issue in call.repo.issues.values():
        issue.labels = [name for name in issue.labels if name != label.name]
    del call.repo.labels[label.name.lower()]
    return Reply(204)


def create_label(call: Call) -> Reply:
    data = call.fields()
    call.need("write")
    name, color = data.get("name"), str(data.get("color", "ededed"))
    if not isinstance(name, str) or not name:
        raise invalid([{"resource": "Label", "code": "missing_field", "field": "name"}], _DOC_LABEL)
    if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
        raise invalid([{"resource": "Label", "code": "invalid", "field": "color"}], _DOC_LABEL)
    if name.lower() in call.repo.labels:
        error = {"resource": "Label", "code": "already_exists", "field": "name"}
        raise invalid([error], _DOC_LABEL)
    label = Label(next(call.state.ids), name, color, data.get("description"))
    call.repo.labels[name.lower()] = label
    body = call.render.label(call.repo, label)
    return Reply(201, body, call.location(body["url"]))


def get_permission(call: Call) -> Reply:
    if not at_least(call.repo.role(call.login), "write"):
        raise forbidden("Must have push access to view repository collaborators.")
    user = call.state.users.get(call.args["login"].lower())
    if user is None:
        raise not_found()
    role = call.repo.role(user.login)
    permissions = {
        "admin": at_least(role, "admin"),
        "maintain": at_least(role, "maintain"),
        "push": at_least(role, "write"),
        "triage": at_least(role, "triage"),
        "pull": at_least(role, "read"),
    }
    described = call.render.user(user.login) | {"permissions": permissions, "role_name": role}
    return Reply(200, {"permission": _LEGACY.get(role, role), "role_name": role, "user": described})
