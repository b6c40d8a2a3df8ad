"""`burndown sandbox run` as a subprocess, and checks that a run left nothing behind."""

import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker

from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL
from tests.support.processes.burndown import child_env


@dataclass
class Ran:
    """What `burndown sandbox run` did."""

    code: int
    out: str
    err: str
    seconds: float


def sandbox_env(tmp_path: Path, image: str, model_url: str, **extra: str) -> dict[str, str]:
    """The environment of a deployment: model endpoint and key, and secrets that must never
    reach a sandbox (a GitHub token, the webhook secret, store and broker URLs)."""
    tag = uuid.uuid4().hex
    return child_env(
        {
            "BURNDOWN_DATA_DIR": str(tmp_path / "data"),
            "BURNDOWN_QUEUE": f"sandbox-test-{tag[:8]}",
            "BURNDOWN_SANDBOX_IMAGE": image,
            "BURNDOWN_ANTHROPIC_BASE_URL": model_url,
            "BURNDOWN_ANTHROPIC_API_KEY": f"sk-ant-model-key-{tag[:12]}",
            "BURNDOWN_GITHUB_TOKEN": f"ghs_{tag}GitHubToken",
            "BURNDOWN_GITHUB_WEBHOOK_SECRET": f"whsec-{tag}",
            "BURNDOWN_DATABASE_URL": f"postgresql+psycopg://burndown:pg-{tag}@127.0.0.1:1/db",
            "BURNDOWN_BROKER_URL": f"redis://:redis-{tag}@127.0.0.1:1/0",
            "BURNDOWN_LOG_JSON": "false",
            **extra,
        }
    )


SECRET_VARIABLES = (
    "BURNDOWN_GITHUB_TOKEN",
    "BURNDOWN_GITHUB_WEBHOOK_SECRET",
    "BURNDOWN_DATABASE_URL",
    "BURNDOWN_BROKER_URL",
)


def secrets_of(env: dict[str, str]) -> list[str]:
    """The secret values in `env`, and their distinctive parts (a password inside a URL)."""
    values = [env[k] for k in SECRET_VARIABLES]
    return values + [v.split("@")[0].rsplit(":", 1)[-1] for v in values if "@" in v]


def sandbox_run(args: list[str], env: dict[str, str], *, run_id: str, timeout: float = 180) -> Ran:
    """`burndown sandbox run --run-id RUN_ID ARGS`, to completion."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "sandbox", "run", "--run-id", run_id, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


def leftovers(run_id: str) -> list[str]:
    """Containers and networks still labelled with `run_id`."""
    return _labelled(f"{RUN_LABEL}={run_id}")


def leftovers_of_deployment(deployment: str) -> list[str]:
    """Containers and networks still labelled with `deployment` (a queue name)."""
    return _labelled(f"{DEPLOYMENT_LABEL}={deployment}")


def _labelled(selector: str) -> list[str]:
    client = docker.from_env(timeout=60)
    try:
        label = {"label": selector}
        found = [f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
        found += [f"network {n.name}" for n in client.networks.list(filters=label)]
        return found
    finally:
        client.close()
