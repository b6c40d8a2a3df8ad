"""The compose stack of `infra/compose.yaml`, brought up for real by `docker-compose` and always
taken down with its volumes, plus what a test needs to look inside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.models.containers import Container

from tests.conftest import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "infra" / "compose.yaml"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


def compose_binary() -> str:
    """Debian's `docker-compose` (1.29); the file is also valid for Compose v2."""
    found = shutil.which("docker-compose")
    if found is None:
        raise AssertionError("docker-compose is not installed (apt-get install docker-compose)")
    return found


def build_images() -> dict[str, str]:
    """Every image of the stack, built offline by the project's script (reused when current)."""
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "build_compose_images.py")],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=REPO_ROOT,
    )
    if proc.returncode != 0:
        raise AssertionError(f"building the compose images failed:\n{proc.stderr[-6000:]}")
    tags: dict[str, str] = json.loads(proc.stdout)
    return tags


@dataclass
class Stack:
    """A running compose project: its name, its env file, and its containers by service."""

    project: str
    env_file: Path
    logs: Path

    def compose(self, *args: str, timeout: float = 300) -> str:
        """Run `docker-compose -p PROJECT -f infra/compose.yaml --env-file ENV ARGS`."""
        argv = [compose_binary(), "--env-file", str(self.env_file)]
        argv += ["-p", self.project, "-f", str(COMPOSE_FILE), *args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def containers(self, service: str | None = None) -> list[Container]:
        """The project's containers (all states), optionally of one service."""
        labels = [f"{PROJECT_LABEL}={self.project}"]
        if service:
            labels.append(f"{SERVICE_LABEL}={service}")
        client = docker.from_env(timeout=60)
        try:
            return list(client.containers.list(all=True, filters={"label": labels}))
        finally:
            client.close()

    def wait(self, what: str, check: Callable[[], object], timeout: float) -> None:
        """Poll `check` each second until truthy; on timeout fail with every container's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(1)
        self.save_logs()
        tails = "".join(
            f"===== {c.name}\n{c.logs(tail=40).decode(errors='replace')[-3000:]}\n"
            for c in self.containers()
            if "worker" in str(c.name) or "api" in str(c.name)
        )
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what} (all logs: {self.logs})\n{tails}"
        )

    def save_logs(self) -> None:
        """Every container's log into `logs` (read when a wait fails)."""
        with self.logs.open("w") as out:
            for c in self.containers():
                out.write(f"===== {c.name} ({c.status})\n")
                out.write(c.logs(tail=300).decode(errors="replace"))


def leftovers(project: str) -> list[str]:
    """Containers, networks and volumes of a compose project that still exist."""
    selector: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={project}"}
    client = docker.from_env(timeout=60)
    try:
        found = [f"container {c.name}" for c in client.containers.list(all=True, filters=selector)]
        found += [f"network {n.name}" for n in client.networks.list(filters=selector)]
        found += [f"volume {v.name}" for v in client.volumes.list(filters=selector)]
        return found
    finally:
        client.close()


@contextmanager
def compose_stack(env: dict[str, str], work: Path, *, run_workers: int = 2) -> Iterator[Stack]:
    """`up -d` the stack with `env` as its `.env` (mode 0600), `--scale run-worker=N`; always
    `down -v` afterwards, even when `up` or the test fails."""
    project = f"bdtest{uuid.uuid4().hex[:10]}"
    env_file = work / "stack.env"
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in {**env, "BURNDOWN_ENV_FILE": str(env_file)}.items())
    )
    os.chmod(env_file, 0o600)
    stack = Stack(project=project, env_file=env_file, logs=work / "stack.log")
    try:
        stack.compose("up", "-d", "--scale", f"run-worker={run_workers}", timeout=600)
        yield stack
    finally:
        try:
            stack.save_logs()
        finally:
            stack.compose("down", "-v", "--remove-orphans", "-t", "20")
