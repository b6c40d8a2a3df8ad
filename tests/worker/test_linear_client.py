"""The Linear client against recorded-shape answers (httpx's mock transport stands in for the
vendor): its documents are valid for Linear's schema, keyed writes are idempotent, GraphQL
errors become `LinearError`, and a RATELIMITED answer is waited out per the reset headers."""

import json
import time
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import REPO_ROOT
from worker.errors import LinearError, LinearNotFound
from worker.linear import documents
from worker.linear.client import HttpLinearClient
from worker.linear.protocol import key_id
from worker.linear.ratelimit import reporting_waits, wait_seconds

SCHEMA = REPO_ROOT.parent / "shared" / "fixtures" / "linear" / "schema.graphql"
ISSUE = {
    "id": "a1",
    "identifier": "ENG-7",
    "number": 7.0,
    "title": "Fix it",
    "description": "repo: acme/widgets",
    "url": "https://linear.app/acme/issue/ENG-7",
    "updatedAt": "2026-12-01T03:00:00.000Z",
    "completedAt": None,
    "canceledAt": None,
    "state": {"type": "started"},
    "team": {"id": "t1", "key": "ENG", "name": "Engineering"},
    "labels": {"nodes": [{"name": "burndown"}]},
}


def test_every_document_is_valid_for_linears_schema() -> None:
    schema = graphql.build_schema(Path(SCHEMA).read_text())
    for document in documents.ALL:
        assert graphql.validate(schema, graphql.parse(document)) == [], document


def _client(answers: list[httpx.Response], seen: list[dict[str, Any]], **kw: Any) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append({"auth": request.headers["authorization"], **json.loads(request.content)})
        return answers.pop(0)

    return HttpLinearClient(
        "https://linear.test/graphql",
        SecretStr("lin_api_k"),
        transport=httpx.MockTransport(handle),
        **kw,
    )


def test_an_issue_is_read_and_a_personal_key_is_sent_as_it_is() -> None:
    seen: list[dict[str, Any]] = []
    client = _client([httpx.Response(200, json={"data": {"issue": ISSUE}})], seen)
    issue = client.issue("ENG-7")
    assert (issue.identifier, issue.number, issue.team.key, issue.labels) == (
        "ENG-7",
        7,
        "ENG",
        ["burndown"],
    )
    assert seen[0]["auth"] == "lin_api_k" and seen[0]["variables"] == {"id": "ENG-7"}


def test_a_keyed_comment_is_edited_and_created_only_when_missing() -> None:
    seen: list[dict[str, Any]] = []
    missing = {"errors": [{"message": "Entity not found", "extensions": {"code": "INVALID_INPUT"}}]}
    made = {"data": {"commentCreate": {"success": True, "comment": {"id": "x"}}}}
    client = _client([httpx.Response(200, json=missing), httpx.Response(200, json=made)], seen)
    cid = client.comment("a1", "queued", key="status-1")
    assert cid == key_id("comment", "a1", "status-1")
    assert "commentUpdate" in seen[0]["query"] and "commentCreate" in seen[1]["query"]
    assert seen[1]["variables"]["input"] == {"id": cid, "issueId": "a1", "body": "queued"}


def test_graphql_errors_become_linear_errors() -> None:
    refused = {"errors": [{"message": "Forbidden", "extensions": {"code": "FORBIDDEN"}}]}
    client = _client([httpx.Response(200, json=refused)], [])
    with pytest.raises(LinearError) as info:
        client.user("u1")
    assert info.value.code == "FORBIDDEN" and not isinstance(info.value, LinearNotFound)
    broken = _client([httpx.Response(502, text="bad gateway")], [])
    with pytest.raises(LinearError):
        broken.issue("a1")


def test_a_rate_limited_mutation_waits_for_the_reset_and_is_sent_again() -> None:
    reset = int(time.time() * 1000) + 7_000
    limited = httpx.Response(
        400,
        json={"errors": [{"message": "Rate limited", "extensions": {"code": "RATELIMITED"}}]},
        headers={"X-RateLimit-Requests-Remaining": "0", "X-RateLimit-Requests-Reset": str(reset)},
    )
    ok = {"data": {"attachmentLinkURL": {"success": True, "attachment": {"id": "a", "url": "u"}}}}
    slept: list[float] = []
    waits: list[tuple[float, dict[str, Any]]] = []
    seen: list[dict[str, Any]] = []
    client = _client([limited, httpx.Response(200, json=ok)], seen, sleep=slept.append)
    with reporting_waits(lambda s, why: waits.append((s, why))):
        client.attach_url("a1", "https://github.test/acme/widgets/pull/1", "PR #1")
    assert len(seen) == 2 and seen[0] == seen[1]  # the same mutation, sent again
    assert len(slept) == 1 and 5.0 < slept[0] <= 7.0
    assert waits[0][0] == slept[0] and waits[0][1]["code"] == "RATELIMITED"


def test_a_rate_limit_that_never_lifts_is_an_error_not_a_loop() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "1"})
    slept: list[float] = []
    client = _client([limited] * 3, [], sleep=slept.append, max_tries=3)
    with pytest.raises(LinearError) as info:
        client.issue("a1")
    assert info.value.code == "RATELIMITED" and slept == [1.0, 1.0]


def test_the_wait_is_the_latest_reset_of_the_spent_limits() -> None:
    headers = {
        "x-ratelimit-requests-remaining": "10",
        "x-ratelimit-requests-reset": "9000",
        "x-ratelimit-complexity-remaining": "0",
        "x-ratelimit-complexity-reset": "4000",
    }
    assert wait_seconds(headers, 1000, 60, 300) == 3.0
    assert wait_seconds({}, 1000, 4, 300) == 4
    assert wait_seconds({"x-ratelimit-requests-reset": "99999999"}, 0, 4, 300) == 300
