"""Linear end to end on real parts: the Linear stand-in (every document checked against
Linear's schema) sends a signed webhook to the running API, a Celery worker on Redis runs the
real Claude Code CLI in a Docker sandbox, and the pull request goes to the GitHub stand-in.
A label gives a pull request, the Linear status comment and the attachment; a delegation gives
its activities in order, and a stop cancels it; rate-limited answers lose nothing."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.e2e.conftest import FIXED, REPO, TITLE, World
from tests.support.linear_standin import API_KEY, LinearStandIn
from tests.support.model_server import ToolCall, Turn
from tests.support.processes import burndown, free_port, healthy, process, wait_for
from worker.store.db import make_engine, session_scope
from worker.store.models import PipelineEventKind, RunEvent

LINEAR_SECRET = "lin_wh_e2e_secret"


@pytest.fixture
def linear() -> Iterator[LinearStandIn]:
    with LinearStandIn() as standin:
        yield standin


def _env(world: World, linear: LinearStandIn, postgres_url: str, redis_url: str, port: int) -> Any:
    return {
        **world.env,
        "BURNDOWN_DATABASE_URL": postgres_url,
        "BURNDOWN_BROKER_URL": redis_url,
        "BURNDOWN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BURNDOWN_LINEAR_API_KEY": API_KEY,
        "BURNDOWN_LINEAR_API_URL": linear.api_url,
        "BURNDOWN_LINEAR_WEBHOOK_SECRET": LINEAR_SECRET,
        "BURNDOWN_LINEAR_REPOS": json.dumps({"ENG": REPO}),
    }


def _rate_limit_waits(postgres_url: str) -> list[dict[str, Any]]:
    engine = make_engine(postgres_url)
    try:
        with session_scope(engine) as s:
            events = s.exec(
                select(RunEvent).where(RunEvent.kind == PipelineEventKind.RATE_LIMITED.value)
            ).all()
            return [json.loads(e.data) for e in events]
    finally:
        engine.dispose()


def test_a_linear_label_becomes_a_pull_request_with_the_comment_and_the_attachment(
    world: World, linear: LinearStandIn, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    team = linear.add_team("ENG", "Engineering")
    linear.add_user("Burndown Bot", "bot@acme.test")  # the API key's owner
    maria = linear.add_user("Maria Lopez", "maria@acme.test")
    issue = linear.create_issue(team, TITLE, "It says Teh.", maria)
    port = free_port()
    env = _env(world, linear, postgres_url, redis_url, port)
    burndown(["db", "upgrade"], env)
    logs = [tmp_path / "api.log", tmp_path / "worker.log"]
    with process(["api", "--port", str(port)], env, logs[0]), process(["worker"], env, logs[1]):
        base = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: healthy(f"{base}/healthz"), 60, logs)
        linear.rate_limit(times=2, reset_in_ms=1500)  # intake's first calls wait, then go on
        r = linear.send(
            f"{base}/webhooks/linear", LINEAR_SECRET, linear.label(issue, "burndown", maria)
        )
        assert r.status_code == 200 and r.json()["message"] == "accepted", r.text
        wait_for("the queued status", lambda: linear.comments_on(issue), 60, logs)
        linear.rate_limit(times=1, reset_in_ms=1500)  # the run's first Linear call waits
        wait_for("the pull request", lambda: world.github.pulls(REPO), 240, logs)
        wait_for("the attachment", lambda: linear.attachments_on(issue), 60, logs)
        wait_for("the final status", lambda: _final(linear, issue), 60, logs)

    (pr,) = world.github.pulls(REPO)
    assert pr["head"]["ref"] == "burndown/eng-1" and pr["title"] == f"{TITLE} (ENG-1)"
    assert "Fixes ENG-1" in pr["body"] and "Closes #" not in pr["body"]
    assert world.github.branch_file(REPO, "burndown/eng-1", "README.md") == FIXED
    assert world.github.issue_comments(REPO, world.number) == []  # GitHub's issue #1 untouched
    (attachment,) = linear.attachments_on(issue)
    assert attachment.url == pr["html_url"]
    bodies = [c.body for c in linear.comments_on(issue)]
    statuses = [b for b in bodies if "Burndown status" in b]
    assert len(statuses) == 1 and pr["html_url"] in statuses[0]  # one comment, edited in place
    assert any(pr["html_url"] in b and "Burndown status" not in b for b in bodies)
    assert all("<!--" not in b for b in bodies)
    (status,) = [c for c in linear.comments_on(issue) if "Burndown status" in c.body]
    assert status.edits >= 2  # queued, running, verifying, done: edited, never re-posted
    invalid = [r for r in linear.requests if "GRAPHQL_" in json.dumps(r.get("answer"))]
    assert invalid == []  # every document Burndown sent was valid for Linear's schema
    waits = _rate_limit_waits(postgres_url)
    assert waits and waits[0]["service"] == "linear" and waits[0]["code"] == "RATELIMITED"
    out = burndown(["report"], env)
    assert "pull requests opened: 1" in out and f"{REPO} ENG-1" in out


def _final(linear: LinearStandIn, issue: Any) -> bool:
    return any("Burndown status: done" in c.body for c in linear.comments_on(issue))


def test_a_delegation_gives_activities_in_order_and_a_stop_cancels(
    world: World, linear: LinearStandIn, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    world.model.set_script(
        [
            Turn(text="Let me look first.", tool_calls=[ToolCall(shell="sleep 90")]),
            Turn(text="Fixed.", tool_calls=[ToolCall(shell="sed -i 's/Teh/The/' README.md")]),
            Turn(text="Done."),
        ]
    )
    team = linear.add_team("ENG", "Engineering")
    agent = linear.add_user("Burndown", "agent@apps.linear.test", app=True)
    maria = linear.add_user("Maria Lopez", "maria@acme.test", admin=True)
    issue = linear.create_issue(team, TITLE, "It says Teh.", maria)
    port = free_port()
    env = _env(world, linear, postgres_url, redis_url, port)
    burndown(["db", "upgrade"], env)
    logs = [tmp_path / "api.log", tmp_path / "worker.log"]
    with process(["api", "--port", str(port)], env, logs[0]), process(["worker"], env, logs[1]):
        base = f"http://127.0.0.1:{port}"
        wait_for("the API", lambda: healthy(f"{base}/healthz"), 60, logs)
        created = linear.delegate(issue, maria, agent)
        session = created["agentSession"]["id"]
        r = linear.send(f"{base}/webhooks/linear", LINEAR_SECRET, created)
        assert r.status_code == 200, r.text

        def kinds() -> list[str]:
            return [a.content["type"] for a in linear.activities_of(session)]

        def running() -> bool:
            acts = linear.activities_of(session)
            return any(a.content.get("action") == "Running" for a in acts)

        wait_for("the first activity", kinds, 30, logs)
        wait_for("the run to start", running, 240, logs)
        wait_for(
            "the agent to be in its sandbox", lambda: len(world.model.requests) >= 1, 120, logs
        )
        stop = linear.prompt(session, maria, "Stop", signal="stop")
        r = linear.send(f"{base}/webhooks/linear", LINEAR_SECRET, stop)
        assert r.status_code == 200, r.text
        wait_for("the response", lambda: "response" in kinds(), 120, logs)

    acts = [a for a in linear.activities_of(session) if a.content["type"] != "prompt"]
    assert acts[0].content["type"] == "thought"  # picked up, before anything else
    actions = [a.content.get("action") for a in acts if a.content["type"] == "action"]
    assert actions[:2] == ["Queued", "Running"]
    assert acts[-1].content["type"] == "response" and "stopped" in acts[-1].content["body"]
    assert world.github.pulls(REPO) == []  # stopped before anything was published
    assert linear.comments_on(issue) == []  # a session hears through its activities only
