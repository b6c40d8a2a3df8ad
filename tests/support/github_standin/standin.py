"""A local GitHub stand-in for tests: REST API for PyGithub and git smart HTTP for real ``git``.

Usage::

    with GitHubStandIn() as gh:
        token = gh.add_repo("acme/widgets", {"README.md": "# widgets\\n"})
        number = gh.create_issue("acme/widgets", "Fix it", "details", author="alice")
        client = github.Github(base_url=gh.api_url, auth=github.Auth.Token(token))
        client.get_repo("acme/widgets").get_issue(number).create_comment("on it")
        # git: clone/push gh.git_url("acme/widgets") passing the token per command, as
        # git -c "http.extraHeader=Authorization: Basic base64(x-access-token:TOKEN)" clone ...

Faithfulness notes (what GitHub does and the stand-in copies):

- REST lives under ``/api/v3`` as on GitHub Enterprise; every request needs a known token
  (``token X``, ``Bearer X`` or HTTP Basic with the token as password), else 401 Bad credentials.
- Repositories are public unless ``private=True``: anyone authenticated can read a public one and
  its collaborator permission reads ``read``; private ones answer 404 to users without access.
- Missing permissions answer 403 ``Resource not accessible by integration`` (installation tokens).
- Issues and pull requests share one number sequence; pull requests are listed as issues too.
- ``GET /pulls?head=`` filters only with the ``owner:branch`` form; a bare branch is ignored.
- Paginated lists carry GitHub's ``Link`` header pointing at ``/repositories/{id}/...``.
- New repositories get GitHub's nine default labels.
- GitHub Apps (``add_app``, ``install_app``): the App's JWT is verified with its public key
  (``apps``); installation tokens expire, reach only the repositories they were issued for
  (404 elsewhere) and only with their permissions (403); the manifest flow's code converts once.
- Every 200 answer to a GET carries an ``ETag``; ``If-None-Match`` with it answers 304, which
  costs no rate limit. Label changes are issue events (``/issues/{n}/events``) naming who.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.github_standin.apps import AppKeys, AppReg, Installation
from tests.support.github_standin.events import labels_changed
from tests.support.github_standin.git import BareRepo
from tests.support.github_standin.issues import DEFAULT_LABELS
from tests.support.github_standin.pulls import render_pull
from tests.support.github_standin.render import Renderer
from tests.support.github_standin.server import App, FailRule, StandInServer
from tests.support.github_standin.state import PERMISSIONS, Comment, Issue, Label, Repo, State, now

__all__ = ["GitHubStandIn"]


class GitHubStandIn:
    """GitHub REST + git over HTTP on ``127.0.0.1``, served from a background thread.

    Use as a context manager (or call :meth:`start` / :meth:`stop`). Setup and inspection
    methods are thread-safe and may be called while clients talk to the server.
    """

    def __init__(self, root: Path | None = None, host: str = "127.0.0.1") -> None:
        """Keep repositories under ``root``, else in a temporary directory removed on stop;
        listen on ``host`` (a local address: containers reach the Docker bridge's gateway)."""
        self._host = host
        self._owns_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="github-standin-")) if root is None else root
        self._repos_root, self._home = self.root / "repos", self.root / "home"
        self._repos_root.mkdir(parents=True, exist_ok=True)
        self._home.mkdir(parents=True, exist_ok=True)
        self._state = State()
        self._app = App(self._state, self._repos_root, self._home)
        self._server: StandInServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> GitHubStandIn:
        """Bind an ephemeral port and serve in a daemon thread."""
        if self._server is None:
            self._server = StandInServer(self._app, self._host)
            self._app.set_base(f"http://{self._host}:{self._server.server_address[1]}")
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="github-standin",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the temporary directory if this instance created it."""
        if self._server is not None:
            # A stuck serve loop must not hang a test's teardown: give it ten seconds.
            stopper = threading.Thread(target=self._server.shutdown, daemon=True)
            stopper.start()
            stopper.join(timeout=10)
            self._server.block_on_close = False
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server, self._thread = None, None
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> GitHubStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def web_url(self) -> str:
        """``http://127.0.0.1:PORT`` (the html_url host and the git host)."""
        return self._render().web

    def _render(self) -> Renderer:
        if self._server is None:
            raise RuntimeError("GitHubStandIn is not started")
        return self._app.render

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/v3``: pass as PyGithub's ``base_url``."""
        return self.web_url + "/api/v3"

    def git_url(self, full_name: str) -> str:
        """``http://127.0.0.1:PORT/owner/repo.git``, the repository's clone URL."""
        return f"{self.web_url}/{full_name}.git"

    # setup

    def add_user(self, login: str, token: str | None = None) -> str:
        """Register ``login`` (if new) with another token; returns the token (generated if None)."""
        token = token or "ghs_" + secrets.token_hex(20)
        with self._state.lock:
            user = self._state.ensure_user(login)
            self._state.tokens[token] = user.login
        return token

    def add_repo(
        self,
        full_name: str,
        files: dict[str, str],
        default_branch: str = "main",
        owner_token: str | None = None,
        *,
        private: bool = False,
    ) -> str:
        """Create ``owner/name`` as a bare repository with one commit of ``files``.

        The owner becomes a user (admin of the repository) if unknown. Returns a token of the
        owner: ``owner_token`` if given (registered for the owner), else an existing or new one.
        """
        owner, name = full_name.split("/")
        with self._state.lock:
            if self._state.repo(full_name) is not None:
                raise ValueError(f"repository {full_name} already exists")
            existing = [
                t for t, login in self._state.tokens.items() if login.lower() == owner.lower()
            ]
            token = self.add_user(owner, owner_token or (existing[0] if existing else None))
            owner = self._state.users[owner.lower()].login
            path = self._repos_root / owner / f"{name}.git"
            BareRepo.create(path, self._home, default_branch, files)
            moment, ids = now(), self._state.ids
            repo = Repo(next(ids), owner, name, path, default_branch, private, moment, moment)
            for label_name, color, description in DEFAULT_LABELS:
                label = Label(next(ids), label_name, color, description, default=True)
                repo.labels[label_name] = label
            self._state.repos[full_name.lower()] = repo
        return token

    def set_permission(self, full_name: str, login: str, permission: str) -> None:
        """Give ``login`` a role: admin, maintain, write, triage, read or none (removes it)."""
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}; one of {PERMISSIONS}")
        with self._state.lock:
            repo = self._state.require_repo(full_name)
            user = self._state.ensure_user(login)
            repo.permissions[user.login.lower()] = permission

    def create_issue(
        self, full_name: str, title: str, body: str, author: str, labels: Sequence[str] = ()
    ) -> int:
        """Open an issue as ``author`` (registered if unknown); returns its number."""
        with self._state.lock:
            repo = self._state.require_repo(full_name)
            user = self._state.ensure_user(author)
            number, repo.next_number = repo.next_number, repo.next_number + 1
            moment = now()
            issue = Issue(number, next(self._state.ids), title, body, user.login, moment, moment)
            repo.issues[number] = issue
            for label in labels:
                self._add_label(repo, issue, label, user.login)
        return number

    def add_label(self, full_name: str, number: int, label: str, by: str | None = None) -> None:
        """Put ``label`` on issue or pull request ``number`` (creating the repository label),
        as ``by`` (the issue's events name who; default: the repository's owner)."""
        with self._state.lock:
            repo = self._state.require_repo(full_name)
            self._add_label(repo, repo.issues[number], label, by or repo.owner)

    def _add_label(self, repo: Repo, issue: Issue, name: str, actor: str) -> None:
        label = repo.label(name, self._state.ids)
        if label.name not in issue.labels:
            before = list(issue.labels)
            issue.labels.append(label.name)
            labels_changed(issue, before, self._state.ensure_user(actor).login, self._state.ids)
            issue.touch()

    def add_comment(self, full_name: str, number: int, body: str, author: str) -> int:
        """Comment on issue or pull request ``number`` as ``author``; returns the comment id."""
        with self._state.lock:
            repo = self._state.require_repo(full_name)
            issue = repo.issues[number]
            user, moment = self._state.ensure_user(author), now()
            comment = Comment(next(self._state.ids), number, body, user.login, moment, moment)
            repo.comments[comment.id] = comment
            issue.touch()
        return comment.id

    def add_app(self, slug: str, owner: str, permissions: dict[str, str] | None = None) -> AppKeys:
        """Register a GitHub App owned by ``owner``; returns its id and private key (PEM)."""
        granted = permissions or {
            "contents": "write",
            "issues": "write",
            "pull_requests": "write",
            "metadata": "read",
        }
        with self._state.lock:
            apps = self._app.apps
            pem, public = apps.new_key()
            app_id = next(self._state.ids)
            client_id = "Iv23li" + secrets.token_hex(7)
            apps.apps[app_id] = AppReg(app_id, slug, client_id, owner, public, dict(granted))
        return AppKeys(app_id, client_id, pem)

    def confirm_manifest(self, manifest: dict[str, Any], owner: str) -> str:
        """What a person confirming the manifest on GitHub causes: the App is created with the
        manifest's permissions; returns the one-time code GitHub redirects back with."""
        permissions = dict(manifest.get("default_permissions") or {})
        keys = self.add_app(str(manifest["name"]).lower(), owner, permissions)
        code = secrets.token_hex(10)
        with self._state.lock:
            self._app.apps.manifests[code] = {
                "id": keys.app_id,
                "slug": str(manifest["name"]).lower(),
                "client_id": keys.client_id,
                "client_secret": secrets.token_hex(20),
                "webhook_secret": secrets.token_hex(20),
                "pem": keys.private_key,
                "owner": self._render().user(owner),
                "permissions": permissions,
                "events": list(manifest.get("default_events") or []),
            }
        return code

    def install_app(self, app_id: int, account: str, repos: Sequence[str] | None = None) -> int:
        """Install the App on ``account``: on the named repositories (full names), or on all of
        the account's (None); returns the installation id."""
        with self._state.lock:
            apps = self._app.apps
            names = None if repos is None else {r.lower() for r in repos}
            inst = Installation(next(self._state.ids), apps.apps[app_id], account, names)
            apps.installations[inst.id] = inst
        return inst.id

    def set_token_lifetime(self, seconds: float) -> None:
        """How long installation tokens issued from now on stay valid (GitHub: one hour)."""
        with self._state.lock:
            self._app.apps.token_seconds = seconds

    def issued_tokens(self) -> list[dict[str, Any]]:
        """Every installation token issued: its repositories, permissions and expiry."""
        with self._state.lock:
            return [
                {
                    "token": t.token,
                    "installation": t.installation.id,
                    "repositories": None if t.repos is None else sorted(t.repos),
                    "permissions": dict(t.permissions),
                    "expires_at": t.expires_at,
                }
                for t in self._app.apps.tokens.values()
            ]

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
        *,
        after: bool = False,
    ) -> None:
        """Answer the next ``method`` request whose logged path fully matches ``path_regex``
        with ``status`` and JSON ``body`` (plus ``headers``, e.g. ``{"Retry-After": "0"}``).
        With ``after``, the request is carried out first and only its answer is the failure,
        as when GitHub did the write but the response was lost.

        Paths are matched as :attr:`requests` records them. Several calls queue several failures.
        """
        rule = FailRule(
            method.upper(), re.compile(path_regex), status, body, headers or {}, after=after
        )
        with self._state.lock:
            self._app.failures.append(rule)

    # inspection

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Snapshot of ``(method, path)`` per request received, in order; no query strings.

        REST paths are given without the ``/api/v3`` prefix (``/repos/o/r/issues/1``), git
        paths as requested (``/o/r.git/git-receive-pack``).
        """
        with self._state.lock:
            return list(self._app.log)

    @property
    def timed_requests(self) -> list[tuple[float, str, str]]:
        """Like :attr:`requests`, each with its arrival time (``time.monotonic()``)."""
        with self._state.lock:
            return [(t, m, p) for t, (m, p) in zip(self._app.times, self._app.log, strict=True)]

    def issue(self, full_name: str, number: int) -> dict[str, Any]:
        """Issue ``number`` as ``GET /repos/{full_name}/issues/{number}`` returns it."""
        with self._state.lock:
            repo = self._state.require_repo(full_name)
            return self._render().issue(repo, repo.issues[number], single=True)

    def issue_comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        """Comments on issue or pull request ``number``, oldest first, in REST JSON form."""
        with self._state.lock:
            repo = self._state.require_repo(full_name)
            return [self._render().comment(repo, c) for c in repo.issue_comments(number)]

    def pulls(self, full_name: str) -> list[dict[str, Any]]:
        """Every pull request of the repository (any state) in number order, as REST JSON."""
        with self._state.lock:
            repo = self._state.require_repo(full_name)
            found = sorted((i for i in repo.issues.values() if i.pull), key=lambda i: i.number)
            return [render_pull(self._render(), repo, issue) for issue in found]

    def _git(self, full_name: str) -> BareRepo:
        with self._state.lock:
            return BareRepo(self._state.require_repo(full_name).path, self._home)

    def branch_sha(self, full_name: str, branch: str) -> str | None:
        """Commit at the tip of ``branch``, or None if there is no such branch."""
        return self._git(full_name).branch_sha(branch)

    def branch_file(self, full_name: str, branch: str, path: str) -> str | None:
        """Text of ``path`` on ``branch`` (``git show``), or None if absent."""
        if self.branch_sha(full_name, branch) is None:
            return None
        data = self._git(full_name).blob(f"refs/heads/{branch}", path)
        return None if data is None else data.decode()

    def branch_diff(self, full_name: str, base: str, head: str) -> str:
        """``git diff base...head``: the changes ``head`` made since it left ``base``.

        Raises ``subprocess.CalledProcessError`` if either branch does not exist.
        """
        return self._git(full_name).diff(f"refs/heads/{base}", f"refs/heads/{head}")
