"""Webhook bodies: the one way a body is read (API and intake alike), and pydantic models of
every field a handler reads, each checked for type, range, time zone and encoding.

A body that fails here is a 400 at the API, or a recorded refusal in intake; never a 500.
"""

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
)

from sandbox.errors import BurndownError

M = TypeVar("M", bound=BaseModel)
MAX_DEPTH = 64
MAX_TEXT = 262_144  # GitHub caps bodies at 65,536 characters; this leaves room


class BadDelivery(BurndownError):
    """A delivery whose body is not what its event promises."""


def _clean(s: str) -> str:
    # PostgreSQL refuses NUL in text; a lone surrogate (legal as a JSON escape) is no text.
    if "\x00" in s:
        raise ValueError("contains a NUL character")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (a lone surrogate)") from None
    return s


def _utc(d: datetime) -> datetime:
    try:
        return d.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


Text = Annotated[
    str, Field(strict=True), StringConstraints(max_length=MAX_TEXT), AfterValidator(_clean)
]
Name = Annotated[
    str,
    Field(strict=True),
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(_clean),
]
Url = Annotated[str, Field(strict=True), StringConstraints(max_length=1024), AfterValidator(_clean)]
Login = Annotated[
    str,
    Field(strict=True),
    StringConstraints(max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*(?:\[bot\])?$"),
]
RepoName = Annotated[
    str,
    Field(strict=True),
    StringConstraints(max_length=255, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"),
]
Sha = Annotated[
    str, Field(strict=True), StringConstraints(pattern=r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
]
Number = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
When = Annotated[AwareDatetime, AfterValidator(_utc)]


def decode(raw: bytes) -> str:
    """A body as text: UTF-8 (what GitHub sends) or `BadDelivery`."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadDelivery("the body is not UTF-8 (GitHub sends UTF-8 JSON)") from None


def read_text(text: str) -> dict[str, Any]:
    """A body as a JSON object (no byte-order mark, at most `MAX_DEPTH` deep); the API and
    intake both read it with this, so what one accepts the other reads the same way."""
    if text.startswith("\ufeff"):
        raise BadDelivery("the body starts with a byte-order mark")
    try:
        payload = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise BadDelivery("the body is nested too deeply") from None
    except ValueError:
        raise BadDelivery("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadDelivery("the body is not a JSON object")
    if _too_deep(payload):
        raise BadDelivery(f"the body is nested deeper than {MAX_DEPTH} levels")
    return payload


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep(root: dict[str, Any]) -> bool:
    level: list[Any] = [root]
    for _ in range(MAX_DEPTH):
        nested: list[Any] = []
        for node in level:
            values = node.values() if isinstance(node, dict) else node
            nested.extend(v for v in values if isinstance(v, dict | list))
        if not nested:
            return False
        level = nested
    return True


def parse(model: type[M], payload: dict[str, Any], what: str) -> M:
    """`payload` as `model`, or `BadDelivery` naming the fields that are missing or wrong."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:10])
        raise BadDelivery(f"{what} body lacks or mistypes: {fields}") from None


class _Label(BaseModel):
    name: Name


class _User(BaseModel):
    login: Login


class _Repo(BaseModel):
    full_name: RepoName


class _Ref(BaseModel):
    ref: Name
    sha: Sha


class _Issue(BaseModel):
    number: Number
    title: Text
    body: Text | None = None
    html_url: Url
    pull_request: dict[str, Any] | None = None
    labels: list[_Label] = Field(default=[], max_length=1000)


class IssueLabeled(BaseModel):
    """`issues.labeled`: a label added to an issue (or to a pull request, seen as an issue)."""

    action: Literal["labeled"]
    label: _Label
    issue: _Issue
    repository: _Repo
    sender: _User


class IssueUnlabeled(BaseModel):
    """`issues.unlabeled`: a label removed from an issue."""

    action: Literal["unlabeled"]
    label: _Label
    issue: _Issue
    repository: _Repo
    sender: _User


class IssueClosed(BaseModel):
    """`issues.closed`: an issue closed, by anyone or by a merged pull request."""

    action: Literal["closed"]
    issue: _Issue
    repository: _Repo
    sender: _User


class _CommentIssue(BaseModel):
    number: Number
    pull_request: dict[str, Any] | None = None


class _Comment(BaseModel):
    body: Text
    user: _User


class IssueComment(BaseModel):
    """`issue_comment.created`: a new comment on an issue or a pull request."""

    action: Literal["created"]
    issue: _CommentIssue
    comment: _Comment
    repository: _Repo


class _Review(BaseModel):
    state: Name
    body: Text | None = None
    user: _User


class _PullRef(BaseModel):
    number: Number
    head: _Ref


class PullRequestReview(BaseModel):
    """`pull_request_review.submitted`: a review of a pull request."""

    action: Literal["submitted"]
    review: _Review
    pull_request: _PullRef
    repository: _Repo


class _CheckOutput(BaseModel):
    title: Text | None = None
    summary: Text | None = None
    text: Text | None = None


class _App(BaseModel):
    slug: Name | None = None
    """Older deliveries carry no slug: such a check is from no trusted app."""


class _Check(BaseModel):
    name: Name
    app: _App | None = None
    conclusion: Name | None = None
    head_sha: Sha
    output: _CheckOutput = _CheckOutput()
    pull_requests: list[_PullRef] = Field(default=[], max_length=1000)


class CheckRun(BaseModel):
    """`check_run.completed`: a check finished, with the pull requests of its commit."""

    action: Literal["completed"]
    check_run: _Check
    repository: _Repo


class _Pull(BaseModel):
    number: Number
    html_url: Url
    state: Literal["open", "closed"]
    merged: StrictBool | None = None
    created_at: When
    updated_at: When
    closed_at: When | None = None
    merged_at: When | None = None
    merge_commit_sha: Sha | None = None
    head: _Ref
    base: _Ref


class PullRequestEvent(BaseModel):
    """`pull_request.closed` / `.reopened`: what lifecycle tracking records."""

    action: Literal["closed", "reopened"]
    number: Number
    pull_request: _Pull
    repository: _Repo
