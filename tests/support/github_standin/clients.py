"""Client-side helpers for tests that talk to :class:`GitHubStandIn`: PyGithub, raw HTTP, git.

``Git`` authenticates the way the project's workers must: the token goes in a per-command
``http.extraHeader`` (Basic ``x-access-token:TOKEN``), never into the URL or ``.git/config``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from github import Auth, Github, GithubRetry

from tests.support.github_standin.standin import GitHubStandIn

GIT_TIMEOUT = 120.0


def client(gh: GitHubStandIn, token: str, retry: GithubRetry | None = None) -> Github:
    """PyGithub pointed at the stand-in, without pacing; no retries unless ``retry`` is given."""
    return Github(
        base_url=gh.api_url,
        auth=Auth.Token(token),
        retry=retry,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


@dataclass
class Raw:
    """A plain HTTP response with lower-case header names."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    url: str,
    method: str = "GET",
    token: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> Raw:
    """One plain HTTP request (urllib) that returns error responses instead of raising."""
    sent = dict(headers or {})
    if token is not None:
        sent.setdefault("Authorization", f"token {token}")
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json; charset=utf-8"
    request = urllib.request.Request(url, data=data, method=method.upper(), headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            lowered = {k.lower(): v for k, v in response.headers.items()}
            return Raw(response.status, lowered, response.read())
    except urllib.error.HTTPError as error:
        lowered = {k.lower(): v for k, v in error.headers.items()}
        return Raw(error.code, lowered, error.read())


class Git:
    """Real git, isolated from the user's config, authenticating per command as GitHub Apps do."""

    def __init__(self, home: Path, token: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        secret = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        self.auth = f"http.extraHeader=Authorization: Basic {secret}"
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Burndown Bot",
            "GIT_AUTHOR_EMAIL": "bot@example.com",
            "GIT_COMMITTER_NAME": "Burndown Bot",
            "GIT_COMMITTER_EMAIL": "bot@example.com",
        }

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """``git -c http.extraHeader=... ARGS`` in ``cwd`` (default: this client's home)."""
        return subprocess.run(
            ["git", "-c", self.auth, *args],
            cwd=cwd or self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )

    def ok(self, *args: str, cwd: Path | None = None) -> str:
        """Like :meth:`run`, asserting success; returns stdout."""
        result = self.run(*args, cwd=cwd)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def clone(self, url: str, name: str = "work") -> Path:
        self.ok("clone", "--quiet", url, name)
        return self.home / name

    def commit_and_push(self, work: Path, files: dict[str, str], branch: str) -> str:
        """Write ``files``, commit them all and push HEAD to ``branch``; returns the commit."""
        for name, text in files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(text)
        self.ok("add", "-A", cwd=work)
        self.ok("commit", "--quiet", "-m", f"Change {', '.join(files)}", cwd=work)
        self.ok("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
        return self.ok("rev-parse", "HEAD", cwd=work).strip()
