"""The Linear stand-in is faithful where Burndown depends on it: it refuses documents Linear's
schema refuses, answers in Linear's error shape, limits on demand, and sends signed webhooks
shaped as the schema's payload types."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from scheduler.intake.linear.webhook import label_added, verified_payload
from tests.support.linear_standin import API_KEY, LinearStandIn, signed
from tests.support.linear_standin.schema import problems
from worker.errors import LinearError
from worker.linear.client import HttpLinearClient


@pytest.fixture(scope="module")
def linear() -> Iterator[LinearStandIn]:
    with LinearStandIn() as standin:
        yield standin


def _client(linear: LinearStandIn, key: str = API_KEY) -> HttpLinearClient:
    return HttpLinearClient(linear.api_url, SecretStr(key), timeout=10, sleep=time.sleep)


def test_a_document_with_a_wrong_field_is_refused_as_linear_refuses_it(
    linear: LinearStandIn,
) -> None:
    r = httpx.post(
        linear.api_url,
        json={"query": 'query { issue(id: "x") { id identifier colour } }'},
        headers={"Authorization": API_KEY},
    )
    assert r.status_code == 400
    (error,) = r.json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Cannot query field 'colour' on type 'Issue'" in error["message"]
    with pytest.raises(LinearError, match="colour"):
        _client(linear).call("query { viewer { id colour } }", {})
    wrong_input = 'mutation { commentCreate(input: {issueId: "x", text: "hi"}) { success } }'
    with pytest.raises(LinearError, match="text"):
        _client(linear).call(wrong_input, {})


def test_a_wrong_key_is_refused(linear: LinearStandIn) -> None:
    with pytest.raises(LinearError) as info:
        _client(linear, "lin_api_wrong").issue("ENG-1")
    assert info.value.code == "AUTHENTICATION_ERROR"


def test_the_client_round_trip_keyed_writes_land_once(linear: LinearStandIn) -> None:
    team = linear.add_team("RT", "Round trip")
    maria = linear.add_user("Maria Lopez", "maria@acme.test", admin=True)
    issue = linear.create_issue(team, "Fix the typo", "repo: acme/widgets", maria)
    client = _client(linear)
    got = client.issue(issue.identifier)
    assert (got.id, got.team.key, got.state_type, got.closed) == (
        issue.id,
        "RT",
        "unstarted",
        False,
    )
    assert client.user(maria.id).role == "admin"
    for body in ("queued", "running", "done"):
        client.comment(issue.id, body, key="status-1")
    client.comment(issue.id, "a plain comment")
    assert sorted(c.body for c in linear.comments_on(issue)) == ["a plain comment", "done"]
    for _ in range(2):
        client.attach_url(issue.id, "https://github.test/acme/widgets/pull/1", "PR #1")
    assert [a.url for a in linear.attachments_on(issue)] == [
        "https://github.test/acme/widgets/pull/1"
    ]


def test_team_issues_filter_by_label_and_time(linear: LinearStandIn) -> None:
    team = linear.add_team("FL")
    maria = linear.add_user("Maria Filter", "mf@acme.test")
    plain = linear.create_issue(team, "plain", "", maria)
    labelled = linear.create_issue(team, "labelled", "", maria)
    linear.label(labelled, "Burndown", maria)
    client = _client(linear)
    assert [i.id for i in client.team_issues("FL", since=None, label="burndown")] == [labelled.id]
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert client.team_issues("FL", since=later) == []
    assert {i.id for i in client.team_issues("FL", since=None)} == {plain.id, labelled.id}
    (added,) = client.label_history(labelled.id)
    assert (added.actor_id, added.labels) == (maria.id, ["Burndown"])
    assert client.label_history(plain.id) == []


def test_agent_activities_are_checked_and_kept_in_order(linear: LinearStandIn) -> None:
    team = linear.add_team("AG")
    maria = linear.add_user("Maria Agent", "ma@acme.test")
    agent = linear.add_user("Burndown", "agent@apps.linear.test", app=True)
    issue = linear.create_issue(team, "delegated", "", maria)
    event = linear.delegate(issue, maria, agent)
    session = event["agentSession"]["id"]
    client = _client(linear)
    client.agent_activity(session, {"type": "thought", "body": "On it."}, key="first")
    client.agent_activity(session, {"type": "thought", "body": "On it."}, key="first")
    client.agent_activity(session, {"type": "action", "action": "Running", "parameter": "x"})
    with pytest.raises(LinearError, match="needs body"):
        client.agent_activity(session, {"type": "response"})
    kinds = [a.content["type"] for a in linear.activities_of(session)]
    assert kinds == ["thought", "action"]


def test_webhooks_are_signed_and_shaped_as_linear_sends_them(linear: LinearStandIn) -> None:
    team = linear.add_team("WH")
    maria = linear.add_user("Maria Hook", "mh@acme.test")
    issue = linear.create_issue(team, "hooked", "", maria)
    payload = linear.label(issue, "burndown", maria)
    assert problems("EntityWebhookPayload", payload) == []
    assert problems("IssueWebhookPayload", payload["data"]) == []
    assert problems("IssueWebhookPayload", {**payload["data"], "colour": 1}) != []
    body, headers = signed("s3cret", payload)
    now = int(time.time() * 1000)
    got = verified_payload("s3cret", body, headers["Linear-Signature"], None, now)
    assert label_added(got, "burndown") and headers["Linear-Delivery"]


def test_rate_limited_on_demand_then_carried_out_once(linear: LinearStandIn) -> None:
    team = linear.add_team("RL")
    maria = linear.add_user("Maria Limit", "ml@acme.test")
    issue = linear.create_issue(team, "limited", "", maria)
    linear.rate_limit(times=2, reset_in_ms=200)
    _client(linear).comment(issue.id, "after the wait")
    assert [c.body for c in linear.comments_on(issue)] == ["after the wait"]
    limited = [r for r in linear.requests if r["status"] == 400 and "Rate limit" in str(r)]
    assert len(limited) >= 2
