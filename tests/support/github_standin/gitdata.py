"""REST endpoints of the stand-in for commits, commit statuses, git refs and file contents."""

from __future__ import annotations

from tests.support.github_standin.git import BareRepo, TreeEntry
from tests.support.github_standin.render import Json
from tests.support.github_standin.rest import (
    DOCS,
    ApiError,
    Call,
    Reply,
    Router,
    invalid,
    not_found,
    paginate,
    unprocessable,
)
from tests.support.github_standin.state import Status, now, parse_iso

_STATES = ("error", "failure", "pending", "success")
_DOC_REFS = "https://docs.github.com/rest/git/refs"


def register(router: Router) -> None:
    router.add("POST", "/statuses/(?P<sha>[^/]+)", create_status)
    router.add("GET", "/statuses/(?P<ref>.+)", list_statuses)
    router.add("GET", "/commits", list_commits)
    router.add("GET", "/commits/(?P<ref>.+)/statuses", list_statuses)
    router.add("GET", "/commits/(?P<ref>.+)/status", combined_status)
    router.add("GET", "/commits/(?P<ref>.+)", get_commit)
    router.add("GET", "/git/refs/?", list_refs)
    router.add("GET", "/git/matching-refs/(?P<ref>.*)", list_refs)
    router.add("GET", "/git/refs/(?P<ref>.+)", get_refs)
    router.add("GET", "/git/ref/(?P<ref>.+)", get_ref)
    router.add("POST", "/git/refs", create_ref)
    router.add("PATCH", "/git/refs/(?P<ref>.+)", update_ref)
    router.add("DELETE", "/git/refs/(?P<ref>.+)", delete_ref)
    router.add("GET", "/contents(?:/(?P<path>.*))?", get_contents)


def _git(call: Call) -> BareRepo:
    return call.render.git(call.repo)


def _commit(call: Call, ref: str) -> str:
    sha = _git(call).rev_parse(ref)
    if sha is None:
        raise unprocessable(f"No commit found for SHA: {ref}")
    return sha


def create_status(call: Call) -> Reply:
    data = call.fields()
    call.need("write")
    sha = _commit(call, call.args["sha"])
    if data.get("state") not in _STATES:
        message = "state is not included in the list"
        raise invalid(
            [{"resource": "Status", "code": "custom", "field": "state", "message": message}]
        )
    status = Status(
        id=next(call.state.ids),
        sha=sha,
        state=data["state"],
        target_url=data.get("target_url"),
        description=data.get("description"),
        context=data.get("context") or "default",
        creator=call.login,
        created_at=now(),
    )
    call.repo.statuses.append(status)
    body = call.render.status(call.repo, status)
    return Reply(201, body, call.location(body["url"]))


def list_statuses(call: Call) -> Reply:
    sha = _commit(call, call.args["ref"])
    found = sorted((s for s in call.repo.statuses if s.sha == sha), key=lambda s: -s.id)
    return paginate(call, [call.render.status(call.repo, s) for s in found])


def combined_status(call: Call) -> Reply:
    return Reply(200, call.render.combined_status(call.repo, _commit(call, call.args["ref"])))


def get_commit(call: Call) -> Reply:
    info = _git(call).commit_info(_commit(call, call.args["ref"]))
    assert info is not None
    return Reply(200, call.render.commit(call.repo, info))


def list_commits(call: Call) -> Reply:
    """``GET /commits?sha=&since=&until=``: commits reachable from ``sha`` (default branch by
    default), newest first, each shaped like ``GET /commits/{ref}`` without ``stats``/``files``."""
    query, git = call.query, _git(call)
    ref = query.get("sha") or call.repo.default_branch
    sha = git.rev_parse(ref)
    if sha is None:
        doc = "https://docs.github.com/rest/commits/commits#list-commits"
        raise ApiError(
            404, {"message": f"No commit found for SHA: {ref}", "documentation_url": doc}
        )
    for name in ("since", "until"):
        if query.get(name):
            try:
                parse_iso(query[name])
            except ValueError:
                message = f"Invalid value for parameter '{name}': {query[name]!r}"
                raise ApiError(400, {"message": message, "documentation_url": DOCS}) from None
    found = git.log(sha, query.get("since"), query.get("until"))
    return paginate(call, [_listed(call, s) for s in found])


def _listed(call: Call, sha: str) -> Json:
    info = _git(call).commit_info(sha)
    assert info is not None
    return call.render.commit(call.repo, info, full=False)


def _refs(call: Call, prefix: str) -> list[tuple[str, str, str]]:
    return [r for r in _git(call).refs() if r[0].startswith(prefix)]


def list_refs(call: Call) -> Reply:
    found = _refs(call, "refs/" + call.args.get("ref", ""))
    return paginate(call, [call.render.ref(call.repo, *r) for r in found])


def get_ref(call: Call) -> Reply:
    found = [r for r in _refs(call, "refs/") if r[0] == "refs/" + call.args["ref"]]
    if not found:
        raise not_found(f"{_DOC_REFS}#get-a-reference")
    return Reply(200, call.render.ref(call.repo, *found[0]))


def get_refs(call: Call) -> Reply:
    """Legacy ``/git/refs/X``: the exact ref as an object, else the refs under it as a list."""
    name = "refs/" + call.args["ref"]
    found = _refs(call, name)
    exact = [r for r in found if r[0] == name]
    if exact:
        return Reply(200, call.render.ref(call.repo, *exact[0]))
    under = [r for r in found if r[0].startswith(name.rstrip("/") + "/")]
    if not under:
        raise not_found(f"{_DOC_REFS}#get-a-reference")
    return Reply(200, [call.render.ref(call.repo, *r) for r in under])


def _moved(call: Call, name: str) -> Reply:
    exact = [r for r in _refs(call, name) if r[0] == name]
    return Reply(200, call.render.ref(call.repo, *exact[0]))


def create_ref(call: Call) -> Reply:
    data = call.fields()
    call.need("write")
    name, sha = str(data.get("ref", "")), str(data.get("sha", ""))
    if not name.startswith("refs/") or name.count("/") < 2:
        raise unprocessable("Reference name must start with 'refs/' and have at least two slashes.")
    git = _git(call)
    if git.object_type(sha) is None:
        raise unprocessable("Object does not exist")
    if git.object_type(name) is not None:
        raise unprocessable("Reference already exists")
    git.update_ref(name, sha, "0" * 40)
    call.repo.pushed_at = now()
    reply = _moved(call, name)
    return Reply(201, reply.body, call.location(reply.body["url"]))


def update_ref(call: Call) -> Reply:
    data = call.fields()
    call.need("write")
    name, sha = "refs/" + call.args["ref"], str(data.get("sha", ""))
    git = _git(call)
    current = git.rev_parse(name)
    if current is None:
        raise unprocessable("Reference does not exist")
    if git.object_type(sha) is None:
        raise unprocessable("Object does not exist")
    if not data.get("force") and not git.is_ancestor(current, sha):
        raise unprocessable("Update is not a fast forward")
    git.update_ref(name, sha, current)
    call.repo.pushed_at = now()
    return _moved(call, name)


def delete_ref(call: Call) -> Reply:
    call.need("write")
    name, git = "refs/" + call.args["ref"], _git(call)
    if not any(r[0] == name for r in git.refs(name)) or not git.delete_ref(name):
        raise unprocessable("Reference does not exist")
    return Reply(204)


def get_contents(call: Call) -> Reply:
    git, path = _git(call), (call.args.get("path") or "").strip("/")
    ref = call.query.get("ref") or call.repo.default_branch
    sha = git.rev_parse(ref)
    if sha is None:
        doc = "https://docs.github.com/rest/repos/contents#get-repository-content"
        raise ApiError(
            404, {"message": f"No commit found for the ref {ref}", "documentation_url": doc}
        )
    kind = git.object_type(f"{sha}:{path}")
    if kind == "tree":
        entries = git.ls_tree(sha, path)
        joined = [(f"{path}/{e.name}" if path else e.name, e) for e in entries]
        return Reply(200, [call.render.content_entry(call.repo, ref, p, e) for p, e in joined])
    data = git.blob(sha, path) if kind == "blob" else None
    if data is None:
        raise not_found("https://docs.github.com/rest/repos/contents#get-repository-content")
    accept = call.headers.get("accept", "")
    if "raw" in accept:
        media = (
            "application/vnd.github.v3.raw" if "v3.raw" in accept else "application/vnd.github.raw"
        )
        return Reply(200, data, content_type=f"{media}; charset=utf-8")
    blob_sha = git.out("rev-parse", f"{sha}:{path}")
    entry = TreeEntry("100644", "blob", blob_sha, len(data), path.rsplit("/", 1)[-1])
    return Reply(200, call.render.content_file(call.repo, ref, path, entry, data))
