"""Latency of the whole path, by stage: from a signed delivery to the harness's first event
and to the pull request, median over N tickets (and delivery to the reaction on the issue at
intake, polled every 10 ms), with the real API, a Celery worker on Redis,
Claude Code in the sandbox, the scripted model and the GitHub stand-in.

    uv run python -m bench.latency [--tickets 10]

Needs what `./scripts/test` sets up (Redis, the sandbox image); reads BURNDOWN_TEST_REDIS_URL
(`eval "$(./scripts/services.sh)"` sets it).
"""

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlmodel import col, select

from sandbox.docker_client import docker_client
from sandbox.images import BuildInputs, build_sandbox_image
from scheduler.intake.signature import sign
from tests.support.github_standin import GitHubStandIn
from tests.support.model_server import ScriptedModel, ToolCall, Turn
from tests.support.processes import (
    bridge_gateway,
    burndown,
    child_env,
    free_port,
    healthy,
    process,
    wait_for,
)
from worker.store.db import make_engine, session_scope
from worker.store.models import Delivery, Run, RunEvent, Ticket

REPO = "bench/widgets"
SECRET = "bench-secret"
STAGES = [
    "intake",
    "queue",
    "clone",
    "container_start",
    "first_event",
    "harness",
    "commit",
    "verify",
    "push",
    "pull_request",
]


def _delivery(number: int, title: str) -> tuple[bytes, dict[str, str]]:
    fixture = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "github-webhooks"
    p = json.loads((fixture / "issues" / "labeled.payload.json").read_text())
    p["label"]["name"] = "burndown"
    p["repository"]["full_name"] = REPO
    p["issue"].update(number=number, title=title, body="Please fix.")
    p["sender"]["login"] = "maria"
    body = json.dumps(p).encode()
    return body, {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(SECRET, body),
        "Content-Type": "application/json",
    }


def _reacted(api_url: str, token: str, number: int, timeout: float = 30.0) -> float:
    """When (monotonic) the issue first shows a reaction, polled every 10 ms."""
    url = f"{api_url}/repos/{REPO}/issues/{number}/reactions"
    deadline = time.monotonic() + timeout
    with httpx.Client(headers={"Authorization": f"token {token}"}, timeout=5) as client:
        while time.monotonic() < deadline:
            if client.get(url).json():
                return time.monotonic()
            time.sleep(0.01)
    raise AssertionError(f"no reaction on issue {number} within {timeout} s")


def _timings(db_url: str) -> list[dict[str, float]]:
    engine = make_engine(db_url)
    rows: list[dict[str, float]] = []
    with session_scope(engine) as s:
        for run in s.exec(select(Run).order_by(col(Run.id))).all():
            t = s.get(Ticket, run.ticket_id)
            d = s.exec(select(Delivery).where(Delivery.ticket_id == run.ticket_id)).first()
            if t is None or d is None or t.queued_at is None:
                continue
            st = {
                json.loads(e.data)["stage"]: json.loads(e.data)["seconds"]
                for e in s.exec(
                    select(RunEvent).where(RunEvent.run_id == run.id, RunEvent.kind == "stage")
                )
            }
            r = {
                "intake": (t.queued_at - d.received_at).total_seconds(),
                "queue": (run.started_at - t.queued_at).total_seconds(),
                **st,
            }
            first = s.exec(
                select(RunEvent)
                .where(RunEvent.run_id == run.id, RunEvent.source == "harness")
                .order_by(col(RunEvent.seq))
            ).first()
            assert run.finished_at is not None and first is not None
            r["to_first_event"] = (first.created_at - d.received_at).total_seconds()
            r["to_pull_request"] = (run.finished_at - d.received_at).total_seconds()
            rows.append(r)
    engine.dispose()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=10)
    args = ap.parse_args()
    image = build_sandbox_image(docker_client(600), BuildInputs()).tag
    redis_url = os.environ["BURNDOWN_TEST_REDIS_URL"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    db_url = f"sqlite:///{tmp / 'store.db'}"
    with GitHubStandIn() as gh, ScriptedModel(host=bridge_gateway()) as model:
        bot = gh.add_user("bot")
        gh.add_user("maria")
        check = 'grep -q "The widgets" README.md || { echo "not ok 1 - typo"; exit 1; }\n'
        gh.add_repo(
            REPO,
            {
                "README.md": "Teh widgets.\n",
                "check.sh": check,
                ".burndown.yml": "test: sh check.sh\n",
            },
        )
        gh.set_permission(REPO, "maria", "write")
        gh.set_permission(REPO, "bot", "write")
        model.set_script(
            [Turn(tool_calls=[ToolCall(shell="sed -i s/Teh/The/ README.md")]), Turn(text="Fixed.")]
        )
        port = free_port()
        env = child_env(
            {
                "BURNDOWN_DATA_DIR": str(tmp / "data"),
                "BURNDOWN_DATABASE_URL": db_url,
                "BURNDOWN_BROKER_URL": redis_url,
                "BURNDOWN_QUEUE": f"bench-{uuid.uuid4().hex[:6]}",
                "BURNDOWN_GITHUB_API_URL": gh.api_url,
                "BURNDOWN_GITHUB_TOKEN": bot,
                "BURNDOWN_GITHUB_WEBHOOK_SECRET": SECRET,
                "BURNDOWN_ANTHROPIC_BASE_URL": model.base_url,
                "BURNDOWN_ANTHROPIC_API_KEY": "k",
                "BURNDOWN_SANDBOX_IMAGE": image,
            }
        )
        burndown(["db", "upgrade"], env)
        logs = [tmp / "api.log", tmp / "worker.log"]
        with process(["api", "--port", str(port)], env, logs[0]), process(["worker"], env, logs[1]):
            base = f"http://127.0.0.1:{port}"
            wait_for("api", lambda: healthy(f"{base}/healthz"), 60, logs)
            reactions: list[float] = []
            for i in range(args.tickets):
                n = gh.create_issue(REPO, f"Typo {i}", "Teh", "maria")
                gh.add_label(REPO, n, "burndown")  # each run checks the label is still there
                body, headers = _delivery(n, f"Typo {i}")
                sent = time.monotonic()
                httpx.post(f"{base}/webhooks/github", content=body, headers=headers, timeout=10)
                reactions.append(_reacted(gh.api_url, bot, n) - sent)
                wait_for(f"pull request {i}", lambda c=i + 1: len(gh.pulls(REPO)) >= c, 120, logs)
    print(
        f"delivery -> reaction at intake: median {statistics.median(reactions):.3f}s, "
        f"max {max(reactions):.3f}s"
    )
    rows = _timings(db_url)
    print(f"latency over {len(rows)} tickets (median seconds; share of delivery->PR)")
    total = statistics.median(r["to_pull_request"] for r in rows)
    for key in [*STAGES, "to_first_event", "to_pull_request"]:
        vals = [r[key] for r in rows if key in r]
        if vals:
            med = statistics.median(vals)
            print(f"  {key:<16} {med:8.3f}s  {med / total:6.1%}")


if __name__ == "__main__":
    main()
