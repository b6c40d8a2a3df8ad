"""REST endpoints of the stand-in for pull requests, backed by the bare git repositories."""

from __future__ import annotations

from tests.support.github_standin.render import Json, Renderer, node_id
from tests.support.github_standin.rest import (
    ApiError,
    Call,
    Reply,
    Router,
    invalid,
    not_found,
    paginate,
)
from tests.support.github_standin.state import Issue, Pull, Repo, at_least, iso, now

_DOC_CREATE = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
_DOC_MERGE = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"
_DOC_REVIEW = (
    "https://docs.github.com/rest/pulls/review-requests#request-reviewers-for-a-pull-request"
)


def register(router: Router) -> None:
    router.add("GET", "/pulls", list_pulls)
    router.add("POST", "/pulls", create_pull)
    router.add("GET", r"/pulls/(?P<n>\d+)", get_pull)
    router.add("PATCH", r"/pulls/(?P<n>\d+)", edit_pull)
    router.add("POST", r"/pulls/(?P<n>\d+)/requested_reviewers", request_reviewers)
    router.add("PUT", r"/pulls/(?P<n>\d+)/merge", merge_pull)
    router.add("GET", r"/pulls/(?P<n>\d+)/merge", is_merged)
    router.add("GET", r"/pulls/(?P<n>\d+)/files", list_files)


def refresh(render: Renderer, repo: Repo, pull: Pull, is_open: bool) -> None:
    """Follow the branches while the pull request is open (GitHub freezes them once closed)."""
    if not is_open:
        return
    git = render.git(repo)
    pull.head_sha = git.branch_sha(pull.head_ref) or pull.head_sha
    pull.base_sha = git.branch_sha(pull.base_ref) or pull.base_sha


def render_pull(render: Renderer, repo: Repo, issue: Issue, full: bool = True) -> Json:
    """A pull request as ``GET /pulls/{n}`` (``full``) or ``GET /pulls`` list items show it."""
    pull = issue.pull
    assert pull is not None
    refresh(render, repo, pull, issue.state == "open")
    api = f"{render.api}/repos/{repo.full_name}"
    url, html = f"{api}/pulls/{issue.number}", f"{render.web}/{repo.full_name}/pull/{issue.number}"
    labels = [render.label(repo, repo.label(name, render.state.ids)) for name in issue.labels]

    def part(ref: str, sha: str) -> Json:
        user, shown = render.user(repo.owner), render.repo(repo, "standard")
        return {"label": f"{repo.owner}:{ref}", "ref": ref, "sha": sha, "user": user, "repo": shown}

    links = {
        "self": url,
        "html": html,
        "issue": f"{api}/issues/{issue.number}",
        "comments": f"{api}/issues/{issue.number}/comments",
        "review_comments": f"{url}/comments",
        "review_comment": f"{api}/pulls/comments{{/number}}",
        "commits": f"{url}/commits",
        "statuses": f"{api}/statuses/{pull.head_sha}",
    }
    out: Json = {
        "url": url,
        "id": pull.id,
        "node_id": node_id("PullRequest", pull.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": links["issue"],
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
        "number": issue.number,
        "state": issue.state,
        "locked": False,
        "title": issue.title,
        "user": render.user(issue.author),
        "body": issue.body,
        "labels": labels,
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(issue.created_at),
        "updated_at": iso(issue.updated_at),
        "closed_at": iso(issue.closed_at),
        "merged_at": iso(pull.merged_at),
        "merge_commit_sha": pull.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [render.user(login) for login in pull.requested_reviewers],
        "requested_teams": [],
        "head": part(pull.head_ref, pull.head_sha),
        "base": part(pull.base_ref, pull.base_sha),
        "_links": {name: {"href": href} for name, href in links.items()},
        "author_association": render.association(repo, issue.author),
        "auto_merge": None,
        "draft": pull.draft,
    }
    if not full:
        return out
    git = render.git(repo)
    mergeable = None
    if issue.state == "open":
        mergeable = git.merge_tree(pull.base_sha, pull.head_sha) is not None
    files = git.changed_files(pull.base_sha, pull.head_sha)
    state = "unknown" if mergeable is None else "dirty" if not mergeable else "clean"
    state = "draft" if state == "clean" and pull.draft else state
    return out | {
        "merged": pull.merged_at is not None,
        "mergeable": mergeable,
        "rebaseable": mergeable,
        "mergeable_state": state,
        "merged_by": render.user(pull.merged_by) if pull.merged_by else None,
        "comments": len(repo.issue_comments(issue.number)),
        "review_comments": 0,
        "maintainer_can_modify": pull.maintainer_can_modify,
        "commits": git.count_commits(pull.base_sha, pull.head_sha),
        "additions": sum(f.additions for f in files),
        "deletions": sum(f.deletions for f in files),
        "changed_files": len(files),
    }


def _pull(call: Call) -> Issue:
    issue = call.repo.issues.get(call.int_arg("n"))
    if issue is None or issue.pull is None:
        raise not_found()
    return issue


def _reply(call: Call, issue: Issue, status: int = 200) -> Reply:
    return Reply(status, render_pull(call.render, call.repo, issue))


def list_pulls(call: Call) -> Reply:
    query, repo = call.query, call.repo
    state = query.get("state", "open")
    owner, colon, head = query.get("head", "").partition(":")
    base = query.get("base")
    found = []
    for issue in repo.issues.values():
        pull = issue.pull
        if pull is None or state not in ("all", issue.state):
            continue
        if colon and (owner.lower() != repo.owner.lower() or pull.head_ref != head):
            continue
        if base and pull.base_ref != base:
            continue
        found.append(issue)
    sort = query.get("sort", "created")
    direction = query.get("direction") or ("desc" if sort == "created" else "asc")
    if sort == "updated":
        found.sort(key=lambda i: (i.updated_at, i.number), reverse=direction == "desc")
    else:
        found.sort(key=lambda i: i.number, reverse=direction == "desc")
    return paginate(call, [render_pull(call.render, repo, i, full=False) for i in found])


def create_pull(call: Call) -> Reply:
    data, repo = call.fields(), call.repo
    for name in ("title", "head", "base"):
        if not isinstance(data.get(name), str) or not data[name]:
            error = {"resource": "PullRequest", "code": "missing_field", "field": name}
            raise invalid([error], _DOC_CREATE)
    owner, _, head_ref = str(data["head"]).rpartition(":")
    base_ref = str(data["base"])
    git = call.render.git(repo)
    base_sha = git.branch_sha(base_ref)
    if base_sha is None:
        raise invalid(
            [{"resource": "PullRequest", "field": "base", "code": "invalid"}], _DOC_CREATE
        )
    head_sha = git.branch_sha(head_ref) if owner.lower() in ("", repo.owner.lower()) else None
    if head_sha is None:
        raise invalid(
            [{"resource": "PullRequest", "field": "head", "code": "invalid"}], _DOC_CREATE
        )
    for other in repo.issues.values():
        pull = other.pull
        if (
            pull
            and other.state == "open"
            and (pull.head_ref, pull.base_ref) == (head_ref, base_ref)
        ):
            message = f"A pull request already exists for {repo.owner}:{head_ref}."
            error = {"resource": "PullRequest", "code": "custom", "message": message}
            raise invalid([error], _DOC_CREATE)
    if git.count_commits(base_sha, head_sha) == 0:
        message = f"No commits between {base_ref} and {head_ref}"
        raise invalid(
            [{"resource": "PullRequest", "code": "custom", "message": message}], _DOC_CREATE
        )
    number, repo.next_number = repo.next_number, repo.next_number + 1
    moment, ids = now(), call.state.ids
    issue = Issue(number, next(ids), data["title"], data.get("body"), call.login, moment, moment)
    issue.pull = Pull(next(ids), head_ref, base_ref, head_sha, base_sha, bool(data.get("draft")))
    issue.pull.maintainer_can_modify = bool(data.get("maintainer_can_modify"))
    repo.issues[number] = issue
    reply = _reply(call, issue, 201)
    reply.headers = call.location(reply.body["url"])
    return reply


def get_pull(call: Call) -> Reply:
    return _reply(call, _pull(call))


def edit_pull(call: Call) -> Reply:
    issue, data = _pull(call), call.fields()
    pull = issue.pull
    assert pull is not None
    if issue.author.lower() != call.login.lower():
        call.need("write")
    if "title" in data:
        issue.title = str(data["title"])
    if "body" in data:
        issue.body = data["body"]
    if "base" in data:
        if call.render.git(call.repo).branch_sha(str(data["base"])) is None:
            raise invalid([{"resource": "PullRequest", "field": "base", "code": "invalid"}])
        pull.base_ref = str(data["base"])
    if data.get("state") in ("open", "closed"):
        if pull.merged_at is not None and data["state"] == "open":
            raise invalid([{"resource": "PullRequest", "code": "custom", "field": "state"}])
        refresh(call.render, call.repo, pull, issue.state == "open")
        issue.set_state(data["state"], call.login)
    issue.touch()
    return _reply(call, issue)


def request_reviewers(call: Call) -> Reply:
    issue, data = _pull(call), call.fields()
    pull = issue.pull
    assert pull is not None
    call.need("triage")
    for login in data.get("reviewers") or []:
        user = call.state.users.get(str(login).lower())
        if user and user.login.lower() == issue.author.lower():
            message = "Review cannot be requested from pull request author."
            raise ApiError(422, {"message": message, "documentation_url": _DOC_REVIEW})
        if user is None or not _collaborator(call.repo, user.login):
            message = (
                "Reviews may only be requested from collaborators. One or more of the users "
                "or teams you specified is not a collaborator of the "
                f"{call.repo.full_name} repository."
            )
            raise ApiError(422, {"message": message, "documentation_url": _DOC_REVIEW})
        if user.login not in pull.requested_reviewers:
            pull.requested_reviewers.append(user.login)
    issue.touch()
    return _reply(call, issue, 201)


def _collaborator(repo: Repo, login: str) -> bool:
    explicit = repo.permissions.get(login.lower(), "none")
    return login.lower() == repo.owner.lower() or at_least(explicit, "read")


def merge_pull(call: Call) -> Reply:
    issue, data = _pull(call), call.fields()
    pull = issue.pull
    assert pull is not None
    call.need("write")
    refresh(call.render, call.repo, pull, issue.state == "open")
    refused = {"message": "Pull Request is not mergeable", "documentation_url": _DOC_MERGE}
    not_mergeable = ApiError(405, refused)
    if issue.state != "open":
        raise not_mergeable
    if pull.draft:
        draft = {"message": "Pull Request is still a draft", "documentation_url": _DOC_MERGE}
        raise ApiError(405, draft)
    if data.get("sha") and data["sha"] != pull.head_sha:
        message = "Head branch was modified. Review and try the merge again."
        raise ApiError(409, {"message": message, "documentation_url": _DOC_MERGE})
    method = data.get("merge_method") or "merge"
    if method not in ("merge", "squash", "rebase"):
        raise invalid([{"resource": "PullRequest", "code": "invalid", "field": "merge_method"}])
    if method == "merge":
        title = f"Merge pull request #{issue.number} from {call.repo.owner}/{pull.head_ref}"
        default = issue.title
    else:
        title, default = f"{issue.title} (#{issue.number})", issue.body or ""
    title = data.get("commit_title") or title
    message = f"{title}\n\n{data.get('commit_message') or default}".rstrip()
    author = (call.login, f"{call.login}@users.noreply.github.com")
    tip = call.render.git(call.repo).merge(pull.base_ref, pull.head_sha, method, message, author)
    if tip is None:
        raise not_mergeable
    pull.merged_at, pull.merged_by, pull.merge_commit_sha = now(), call.login, tip
    issue.set_state("closed", call.login)
    call.repo.pushed_at = now()
    return Reply(200, {"sha": tip, "merged": True, "message": "Pull Request successfully merged"})


def is_merged(call: Call) -> Reply:
    pull = _pull(call).pull
    assert pull is not None
    if pull.merged_at is None:
        raise not_found()
    return Reply(204)


def list_files(call: Call) -> Reply:
    issue = _pull(call)
    pull = issue.pull
    assert pull is not None
    refresh(call.render, call.repo, pull, issue.state == "open")
    changes = call.render.git(call.repo).changed_files(pull.base_sha, pull.head_sha)
    return paginate(call, [call.render.pull_file(call.repo, c, pull.head_sha) for c in changes])
