"""GitHub REST JSON shapes for the stand-in's objects, key for key as api.github.com sends them.

The key sets follow the recorded responses in ``shared/fixtures/github-api``.
"""

from __future__ import annotations

import base64
import zlib
from pathlib import Path
from typing import Any

from tests.support.github_standin.git import BareRepo, CommitInfo, FileChange, TreeEntry
from tests.support.github_standin.state import (
    Comment,
    Issue,
    Label,
    Repo,
    State,
    Status,
    at_least,
    iso,
)

Json = dict[str, Any]

_REPO_URLS = {
    "forks_url": "/forks",
    "keys_url": "/keys{/key_id}",
    "collaborators_url": "/collaborators{/collaborator}",
    "teams_url": "/teams",
    "hooks_url": "/hooks",
    "issue_events_url": "/issues/events{/number}",
    "events_url": "/events",
    "assignees_url": "/assignees{/user}",
    "branches_url": "/branches{/branch}",
    "tags_url": "/tags",
    "blobs_url": "/git/blobs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "trees_url": "/git/trees{/sha}",
    "statuses_url": "/statuses/{sha}",
    "languages_url": "/languages",
    "stargazers_url": "/stargazers",
    "contributors_url": "/contributors",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "commits_url": "/commits{/sha}",
    "git_commits_url": "/git/commits{/sha}",
    "comments_url": "/comments{/number}",
    "issue_comment_url": "/issues/comments{/number}",
    "contents_url": "/contents/{+path}",
    "compare_url": "/compare/{base}...{head}",
    "merges_url": "/merges",
    "archive_url": "/{archive_format}{/ref}",
    "downloads_url": "/downloads",
    "issues_url": "/issues{/number}",
    "pulls_url": "/pulls{/number}",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "labels_url": "/labels{/name}",
    "releases_url": "/releases{/id}",
    "deployments_url": "/deployments",
}
_REACTIONS = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


class Renderer:
    """Turns stand-in state into GitHub JSON with URLs under ``api`` and ``web``."""

    def __init__(self, state: State, api: str, web: str, home: Path) -> None:
        self.state, self.api, self.web, self.home = state, api, web, home

    def git(self, repo: Repo) -> BareRepo:
        return BareRepo(repo.path, self.home)

    def user(self, login: str) -> Json:
        user = self.state.ensure_user(login)
        url = f"{self.api}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node_id("User", user.id),
            "avatar_url": f"{self.web}/avatars/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.web}/{user.login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": user.type,
            "site_admin": False,
        }

    def user_full(self, login: str) -> Json:
        user = self.state.ensure_user(login)
        owned = sum(1 for r in self.state.repos.values() if r.owner.lower() == login.lower())
        extra = dict.fromkeys(("name", "company", "blog", "location", "email", "hireable", "bio"))
        extra |= {"twitter_username": None, "public_repos": owned, "public_gists": 0}
        extra |= {"followers": 0, "following": 0, "created_at": iso(user.created_at)}
        return self.user(login) | extra | {"updated_at": iso(user.created_at)}

    def repo(self, repo: Repo, level: str = "full", viewer: str | None = None) -> Json:
        """``level``: ``minimal`` (embedded), ``standard`` (lists, pulls) or ``full`` (GET)."""
        url = f"{self.api}/repos/{repo.full_name}"
        out: Json = {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self.user(repo.owner),
            "html_url": f"{self.web}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": url,
        } | {key: url + suffix for key, suffix in _REPO_URLS.items()}
        if level == "minimal":
            return out
        open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
        host = self.web.split("://", 1)[1]
        out |= {
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.pushed_at),
            "pushed_at": iso(repo.pushed_at),
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host.split(':')[0]}:{repo.full_name}.git",
            "clone_url": f"{self.web}/{repo.full_name}.git",
            "svn_url": f"{self.web}/{repo.full_name}",
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_issues,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 0,
            "default_branch": repo.default_branch,
        }
        if viewer is not None:
            role = repo.role(viewer)
            out["permissions"] = {
                key: at_least(role, needed)
                for key, needed in (
                    ("admin", "admin"),
                    ("maintain", "maintain"),
                    ("push", "write"),
                    ("triage", "triage"),
                    ("pull", "read"),
                )
            }
        if level == "full":
            out |= {"temp_clone_token": "", "allow_squash_merge": True}
            out |= {"allow_merge_commit": True, "allow_rebase_merge": True}
            out |= {"allow_auto_merge": False, "delete_branch_on_merge": False}
            out |= {"allow_update_branch": False, "use_squash_pr_title_as_default": False}
            out |= {"network_count": 0, "subscribers_count": 0}
        return out

    def label(self, repo: Repo, label: Label) -> Json:
        return {
            "id": label.id,
            "node_id": node_id("Label", label.id),
            "url": f"{self.api}/repos/{repo.full_name}/labels/{label.name}".replace(" ", "%20"),
            "name": label.name,
            "color": label.color,
            "default": label.default,
            "description": label.description,
        }

    def association(self, repo: Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        return "COLLABORATOR" if repo.permissions.get(login.lower(), "none") != "none" else "NONE"

    def reactions(self, url: str) -> Json:
        return {"url": f"{url}/reactions", "total_count": 0} | dict.fromkeys(_REACTIONS, 0)

    def issue(self, repo: Repo, issue: Issue, single: bool = False) -> Json:
        url = f"{self.api}/repos/{repo.full_name}/issues/{issue.number}"
        kind = "pull" if issue.pull else "issues"
        labels = [self.label(repo, repo.label(name, self.state.ids)) for name in issue.labels]
        out: Json = {
            "url": url,
            "repository_url": f"{self.api}/repos/{repo.full_name}",
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.web}/{repo.full_name}/{kind}/{issue.number}",
            "id": issue.id,
            "node_id": node_id("Issue", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self.user(issue.author),
            "labels": labels,
            "state": issue.state,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(repo.issue_comments(issue.number)),
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at),
            "author_association": self.association(repo, issue.author),
            "active_lock_reason": None,
            "body": issue.body,
        }
        if issue.pull:
            pull_url = f"{self.api}/repos/{repo.full_name}/pulls/{issue.number}"
            html = out["html_url"]
            out["draft"] = issue.pull.draft
            out["pull_request"] = {"url": pull_url, "html_url": html}
            out["pull_request"] |= {"diff_url": f"{html}.diff", "patch_url": f"{html}.patch"}
            out["pull_request"]["merged_at"] = iso(issue.pull.merged_at)
        if single:
            out["closed_by"] = self.user(issue.closed_by) if issue.closed_by else None
        out["reactions"] = self.reactions(url)
        out["timeline_url"] = f"{url}/timeline"
        out["performed_via_github_app"] = None
        out["state_reason"] = issue.state_reason
        return out

    def comment(self, repo: Repo, comment: Comment) -> Json:
        url = f"{self.api}/repos/{repo.full_name}/issues/comments/{comment.id}"
        issue = repo.issues[comment.issue_number]
        kind = "pull" if issue.pull else "issues"
        html = f"{self.web}/{repo.full_name}/{kind}/{issue.number}#issuecomment-{comment.id}"
        return {
            "url": url,
            "html_url": html,
            "issue_url": f"{self.api}/repos/{repo.full_name}/issues/{issue.number}",
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "user": self.user(comment.author),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "author_association": self.association(repo, comment.author),
            "body": comment.body,
            "reactions": self.reactions(url),
            "performed_via_github_app": None,
        }

    def status(self, repo: Repo, status: Status, creator: bool = True) -> Json:
        out: Json = {
            "url": f"{self.api}/repos/{repo.full_name}/statuses/{status.sha}",
            "avatar_url": self.user(status.creator)["avatar_url"],
            "id": status.id,
            "node_id": node_id("StatusContext", status.id),
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": iso(status.created_at),
            "updated_at": iso(status.created_at),
        }
        return out | ({"creator": self.user(status.creator)} if creator else {})

    def combined_status(self, repo: Repo, sha: str) -> Json:
        latest: dict[str, Status] = {}
        for status in sorted(repo.statuses, key=lambda s: s.id):
            if status.sha == sha:
                latest[status.context] = status
        states = {s.state for s in latest.values()}
        overall = "success"
        if states & {"error", "failure"}:
            overall = "failure"
        elif not states or "pending" in states:
            overall = "pending"
        commit_url = f"{self.api}/repos/{repo.full_name}/commits/{sha}"
        return {
            "state": overall,
            "statuses": [self.status(repo, s, creator=False) for s in latest.values()],
            "sha": sha,
            "total_count": len(latest),
            "repository": self.repo(repo, "minimal"),
            "commit_url": commit_url,
            "url": f"{commit_url}/status",
        }

    def ref(self, repo: Repo, refname: str, sha: str, kind: str) -> Json:
        base = f"{self.api}/repos/{repo.full_name}/git"
        return {
            "ref": refname,
            "node_id": node_id("Ref", zlib.crc32(refname.encode())),
            "url": f"{base}/{refname}",
            "object": {"sha": sha, "type": kind, "url": f"{base}/{kind}s/{sha}"},
        }

    def content_entry(self, repo: Repo, ref: str, path: str, entry: TreeEntry) -> Json:
        kind = {"blob": "file", "tree": "dir", "commit": "submodule"}.get(entry.type, "file")
        api = f"{self.api}/repos/{repo.full_name}"
        html = f"{self.web}/{repo.full_name}/{'blob' if kind == 'file' else 'tree'}/{ref}/{path}"
        git_url = f"{api}/git/{'blobs' if kind == 'file' else 'trees'}/{entry.sha}"
        url = f"{api}/contents/{path}?ref={ref}"
        return {
            "name": entry.name,
            "path": path,
            "sha": entry.sha,
            "size": entry.size,
            "url": url,
            "html_url": html,
            "git_url": git_url,
            "download_url": f"{self.web}/{repo.full_name}/raw/{ref}/{path}"
            if kind == "file"
            else None,
            "type": kind,
            "_links": {"self": url, "git": git_url, "html": html},
        }

    def content_file(self, repo: Repo, ref: str, path: str, entry: TreeEntry, data: bytes) -> Json:
        encoded = base64.b64encode(data).decode()
        wrapped = "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
        out = self.content_entry(repo, ref, path, entry)
        return {"type": "file", "encoding": "base64", "content": wrapped} | out

    def commit(self, repo: Repo, info: CommitInfo, full: bool = True) -> Json:
        """A commit as ``GET /commits/{ref}`` (``full``) or ``GET /commits`` items show it."""
        api = f"{self.api}/repos/{repo.full_name}"
        out: Json = {
            "sha": info.sha,
            "node_id": node_id("Commit", int(info.sha[:8], 16)),
            "commit": {
                "author": {
                    "name": info.author_name,
                    "email": info.author_email,
                    "date": info.author_date,
                },
                "committer": {
                    "name": info.committer_name,
                    "email": info.committer_email,
                    "date": info.committer_date,
                },
                "message": info.message,
                "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
                "url": f"{api}/git/commits/{info.sha}",
                "comment_count": 0,
                "verification": {"verified": False, "reason": "unsigned", "signature": None}
                | {"payload": None, "verified_at": None},
            },
            "url": f"{api}/commits/{info.sha}",
            "html_url": f"{self.web}/{repo.full_name}/commit/{info.sha}",
            "comments_url": f"{api}/commits/{info.sha}/comments",
            "author": None,
            "committer": None,
            "parents": [
                {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{self.web}/commit/{p}"}
                for p in info.parents
            ],
        }
        if not full:
            return out
        files = self.git(repo).changed_files(info.parents[0], info.sha) if info.parents else []
        additions = sum(f.additions for f in files)
        deletions = sum(f.deletions for f in files)
        return out | {
            "stats": {"total": additions + deletions, "additions": additions}
            | {"deletions": deletions},
            "files": [self.pull_file(repo, change, info.sha) for change in files],
        }

    def pull_file(self, repo: Repo, change: FileChange, head_sha: str) -> Json:
        api = f"{self.api}/repos/{repo.full_name}"
        return {
            "sha": change.sha,
            "filename": change.filename,
            "status": change.status,
            "additions": change.additions,
            "deletions": change.deletions,
            "changes": change.additions + change.deletions,
            "blob_url": f"{self.web}/{repo.full_name}/blob/{head_sha}/{change.filename}",
            "raw_url": f"{self.web}/{repo.full_name}/raw/{head_sha}/{change.filename}",
            "contents_url": f"{api}/contents/{change.filename}?ref={head_sha}",
            "patch": change.patch,
        }
