"""GitHub webhook deliveries: signature check and the parts of a body we act on."""

import hashlib
import hmac
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sandbox.errors import BurndownError

M = TypeVar("M", bound=BaseModel)


class BadDelivery(BurndownError):
    """A delivery whose body is not what its event promises."""


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is `sha256=` + the HMAC-SHA256 of `body`, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub would send for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _Named(BaseModel):
    name: str


class _User(BaseModel):
    login: str


class _Repo(BaseModel):
    full_name: str


class _Issue(BaseModel):
    number: int
    title: str
    body: str | None = None
    html_url: str
    pull_request: dict[str, Any] | None = None
    labels: list[_Named] = []


class IssueLabeled(BaseModel):
    """The fields of an `issues.labeled` delivery that intake uses."""

    action: str
    label: _Named
    issue: _Issue
    repository: _Repo
    sender: _User


def _parse(model: type[M], payload: Any, what: str) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise BadDelivery(f"{what} body lacks or mistypes: {fields}") from None


def parse_issue_labeled(payload: Any) -> IssueLabeled:
    """The `issues.labeled` fields, or `BadDelivery` saying what is missing."""
    return _parse(IssueLabeled, payload, "issues.labeled")


class _Ref(BaseModel):
    ref: str
    sha: str


class _Pull(BaseModel):
    number: int
    html_url: str
    state: str
    merged: bool | None = None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    head: _Ref
    base: _Ref


class PullRequestEvent(BaseModel):
    """The fields of a `pull_request` delivery that lifecycle tracking uses."""

    action: str
    number: int
    pull_request: _Pull
    repository: _Repo


def parse_pull_request(payload: Any) -> PullRequestEvent:
    """The `pull_request` fields, or `BadDelivery` saying what is missing."""
    return _parse(PullRequestEvent, payload, "pull_request")
