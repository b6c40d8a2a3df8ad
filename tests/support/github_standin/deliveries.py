"""Signed webhook deliveries built from the real GitHub payloads in shared/fixtures."""

import json
import uuid
from typing import Any

from scheduler.intake.signature import sign
from tests.conftest import fixtures_dir


def payload(event: str, name: str) -> dict[str, Any]:
    path = fixtures_dir() / "github-webhooks" / event / f"{name}.payload.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def labeled(
    label: str = "burndown",
    *,
    repo: str | None = None,
    number: int | None = None,
    sender: str | None = None,
    title: str | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    """The recorded `issues.labeled` delivery, retargeted at our stand-in's repository."""
    p = payload("issues", "labeled")
    p["label"]["name"] = label
    if repo:
        owner, name = repo.split("/")
        p["repository"]["full_name"], p["repository"]["name"] = repo, name
        p["repository"]["owner"]["login"] = owner
    if number is not None:
        p["issue"]["number"] = number
    if sender:
        p["sender"]["login"] = sender
    if title is not None:
        p["issue"]["title"] = title
    if body is not None:
        p["issue"]["body"] = body
    return p


def signed(
    secret: str, body: dict[str, Any] | bytes, event: str = "issues", delivery: str | None = None
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, raw),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
    }


def pull_request(
    action: str,
    *,
    repo: str,
    number: int,
    head: str,
    updated_at: str,
    merged: bool = False,
    merge_commit_sha: str | None = None,
) -> dict[str, Any]:
    """The recorded `pull_request.<action>` delivery, retargeted at `repo#number` on branch
    `head`, with GitHub's timestamps moved to `updated_at` (and merged, if asked)."""
    p = payload("pull_request", action)
    owner, name = repo.split("/")
    p["repository"]["full_name"], p["repository"]["name"] = repo, name
    p["repository"]["owner"]["login"] = owner
    p["number"] = number
    pr = p["pull_request"]
    pr["number"], pr["updated_at"] = number, updated_at
    pr["html_url"] = f"https://github.com/{repo}/pull/{number}"
    pr["head"]["ref"] = head
    if action == "closed":
        pr["closed_at"] = updated_at
        pr["merged"], pr["merged_at"] = merged, updated_at if merged else None
        pr["merge_commit_sha"] = merge_commit_sha or pr["merge_commit_sha"]
    return p
