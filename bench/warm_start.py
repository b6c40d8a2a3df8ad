"""Warm start: from a signed delivery to the harness's first event, for a deployment with the
repository cache and a warm pool against today's cold path (no cache, no pool), side by side
(tickets interleaved, each waited for to its pull request), and a bare `docker run` of the same
image and harness command. p50/p95 with the stage breakdown.

    uv run python -m bench.warm_start [--tickets 12] [--harness claude-code] [--pool 2]
        [--egress-network bridge]

Real API and Celery workers on Redis, the harness in the sandbox against the scripted model,
the GitHub stand-in. Needs what `./scripts/test` sets up (Redis, the sandbox image); reads
BURNDOWN_TEST_REDIS_URL.
"""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.latency import REPO, SECRET, _delivery, _timings
from sandbox.docker_client import docker_client
from sandbox.harness.protocol import HarnessOptions
from sandbox.harness.run import HarnessJob, harness_of, harness_spec
from sandbox.harness.scripted import SCRIPT_ENV
from sandbox.images import BuildInputs, build_sandbox_image
from sandbox.runtime import SandboxPolicy
from tests.support.deployment import fix_script
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

BREAKDOWN = [
    "intake",
    "queue",
    "clone",
    "mirror_fetch",
    "host_repo",
    "spare_tree",
    "plan",
    "first_event",
]


def bare_docker_run(
    image: str, harness: str, model_url: str, network: str, extra_env: dict[str, str]
) -> float:
    """`docker run --rm` of the image with the harness's own command and environment: seconds
    until its first line."""
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as ws:
        if os.geteuid() == 0:
            os.chown(ws, 1000, 1000)
        job = HarnessJob(
            harness=harness,
            prompt="Fix the typo.",
            image=image,
            workspace=Path(ws),
            policy=SandboxPolicy(),
            options=HarnessOptions(extra_env=extra_env),
        )
        spec = harness_spec(job, harness_of(job))
        assert spec.command, spec
        args = ["docker", "run", "--rm", "--network", network, "-u", spec.user, "-w", spec.workdir]
        args += ["-v", f"{ws}:{spec.workdir}", "--tmpfs", f"{spec.home}:uid=1000,mode=0700"]
        env = {**spec.env, "ANTHROPIC_BASE_URL": model_url}
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        t0 = time.monotonic()
        proc = subprocess.Popen([*args, image, *spec.command], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.readline()
        first = time.monotonic() - t0
        proc.kill()
        proc.wait(timeout=60)
    return first


def deployment(
    stack: ExitStack, name: str, extra: dict[str, str], base_env: dict[str, str], tmp: Path
) -> tuple[str, str]:
    """An API and a run worker of their own (store, queue, data folder); (url, db url)."""
    db_url = f"sqlite:///{tmp / f'{name}.db'}"
    env = child_env(
        {
            **base_env,
            "BURNDOWN_DATA_DIR": str(tmp / name),
            "BURNDOWN_DATABASE_URL": db_url,
            "BURNDOWN_QUEUE": f"bench-{name}-{uuid.uuid4().hex[:6]}",
            **extra,
        }
    )
    burndown(["db", "upgrade"], env)
    port = free_port()
    logs = [tmp / f"{name}-api.log", tmp / f"{name}-worker.log"]
    stack.enter_context(process(["api", "--port", str(port)], env, logs[0]))
    stack.enter_context(process(["worker"], env, logs[1]))
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{name} api", lambda: healthy(f"{url}/healthz"), 180, logs)
    return url, db_url


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, rows: list[dict[str, float]]) -> None:
    firsts = [r["to_first_event"] for r in rows]
    print(
        f"{name:<26} p50 {statistics.median(firsts) * 1000:6.0f} ms   "
        f"p95 {_pct(firsts, 0.95) * 1000:6.0f} ms   (n={len(firsts)})"
    )
    parts = []
    for key in BREAKDOWN:
        vals = [r[key] for r in rows if key in r]
        if vals:
            parts.append(f"{key} {statistics.median(vals) * 1000:.0f}")
    top = ["intake", "queue", "clone", "plan", "first_event"]
    known = sum(statistics.median([r.get(k, 0.0) for r in rows]) for k in top)
    parts.append(f"other {max(0.0, statistics.median(firsts) - known) * 1000:.0f}")
    print(f"{'':<26} median ms: " + ", ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=12)
    ap.add_argument("--harness", default="claude-code")
    ap.add_argument("--pool", type=int, default=2)
    ap.add_argument("--egress-network", default="bridge")
    args = ap.parse_args()
    image = build_sandbox_image(docker_client(600), BuildInputs()).tag
    extra_env = {SCRIPT_ENV: fix_script().model_dump_json()} if args.harness == "scripted" else {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-warm-"))
    with ExitStack() as stack:
        gh = stack.enter_context(GitHubStandIn())
        model = stack.enter_context(ScriptedModel(host=bridge_gateway()))
        bot = gh.add_user("bot")
        gh.add_user("maria")
        check = 'grep -q "The widgets" README.md || { echo "not ok 1 - typo"; exit 1; }\n'
        config = "test: sh check.sh\n"
        seed = {"README.md": "Teh widgets.\n", "check.sh": check, ".burndown.yml": config}
        gh.add_repo(REPO, seed)
        gh.set_permission(REPO, "maria", "write")
        gh.set_permission(REPO, "bot", "write")
        model.set_script(
            [Turn(tool_calls=[ToolCall(shell="sed -i s/Teh/The/ README.md")]), Turn(text="Fixed.")]
        )
        base = {
            "BURNDOWN_BROKER_URL": os.environ["BURNDOWN_TEST_REDIS_URL"],
            "BURNDOWN_GITHUB_API_URL": gh.api_url,
            "BURNDOWN_GITHUB_TOKEN": bot,
            "BURNDOWN_GITHUB_WEBHOOK_SECRET": SECRET,
            "BURNDOWN_ANTHROPIC_BASE_URL": model.base_url,
            "BURNDOWN_ANTHROPIC_API_KEY": "k",
            "BURNDOWN_SANDBOX_IMAGE": image,
            "BURNDOWN_HARNESS": args.harness,
            "BURNDOWN_SANDBOX_EGRESS_NETWORK": args.egress_network,
            "BURNDOWN_HARNESS_ENV": json.dumps(extra_env),
        }
        variants = {
            "cold (today)": {"BURNDOWN_REPO_CACHE": "false", "BURNDOWN_SANDBOX_POOL_SIZE": "0"},
            "warm (cache + pool)": {
                "BURNDOWN_REPO_CACHE": "true",
                "BURNDOWN_SANDBOX_POOL_SIZE": str(args.pool),
            },
        }
        urls = {
            name: deployment(stack, f"v{i}", extra, base, tmp)
            for i, (name, extra) in enumerate(variants.items())
        }
        bare: list[float] = []
        done = 0
        for i in range(args.tickets + 1):  # the first ticket of each warms up, not counted
            for name, (url, _) in urls.items():
                n = gh.create_issue(REPO, f"Typo {name} {i}", "Teh", "maria")
                gh.add_label(REPO, n, "burndown")
                body, headers = _delivery(n, f"Typo {i}")
                httpx.post(f"{url}/webhooks/github", content=body, headers=headers, timeout=10)
                done += 1
                wait_for(f"pull request {done}", lambda c=done: len(gh.pulls(REPO)) >= c, 300)
            if i > 0:
                net = args.egress_network
                bare.append(bare_docker_run(image, args.harness, model.base_url, net, extra_env))
            else:
                time.sleep(5)  # the pool fills after its first take
    print(f"delivery -> harness's first event, {args.tickets} tickets each, harness {args.harness}")
    for name, (_, db_url) in urls.items():
        report(name, _timings(db_url)[1:])
    print(
        f"{'bare docker run':<26} p50 {statistics.median(bare) * 1000:6.0f} ms   "
        f"p95 {_pct(bare, 0.95) * 1000:6.0f} ms   (n={len(bare)}; image start to first line)"
    )


if __name__ == "__main__":
    main()
