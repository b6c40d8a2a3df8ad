"""What every chaos scenario stands on: its own Redis and PostgreSQL (restartable at will), the
GitHub stand-in, a deployment of real `burndown` processes, and the counts the goals are about
(end states, duplicate pull requests and comments, leftovers, sandboxes at once, memory)."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from sandbox.harness.scripted import Script
from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL
from tests.support.deployment import END_STATES, Deployment, deployment
from tests.support.github_standin import GitHubStandIn
from tests.support.services import PostgresServer, RedisServer, postgres_server, redis_server


@dataclass
class World:
    """A deployment and the servers under it."""

    d: Deployment
    redis: RedisServer
    postgres: PostgresServer


@contextmanager
def world(tmp: Path, image: str, script: Script, **settings: str) -> Iterator[World]:
    with (
        redis_server(tmp / "redis") as redis,
        postgres_server() as pg,
        GitHubStandIn() as gh,
        deployment(
            gh,
            tmp,
            image=image,
            database_url=pg.url,
            redis_url=redis.url,
            script=script,
            **settings,
        ) as d,
    ):
        yield World(d, redis, pg)


def ended(d: Deployment, numbers: list[int]) -> int:
    """How many of the tickets of `numbers` reached an end state."""
    marks = ",".join(str(n) for n in numbers) or "0"
    rows = d.rows(f"SELECT status FROM ticket WHERE number IN ({marks})")
    return sum(1 for (s,) in rows if str(s) in END_STATES)


def wait_ended(d: Deployment, numbers: list[int], timeout: float) -> int:
    """Wait until every ticket of `numbers` ended, or `timeout`; how many did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and ended(d, numbers) < len(numbers):
        time.sleep(0.5)
    return ended(d, numbers)


def duplicate_pulls(d: Deployment) -> int:
    return sum(n - 1 for n in d.pulls_per_branch().values())


def pulls_of(d: Deployment, numbers: list[int]) -> int:
    """Tickets of `numbers` with a pull request for their branch."""
    per = d.pulls_per_branch()
    return sum(1 for n in numbers if per.get(f"burndown/issue-{n}"))


def leftovers(d: Deployment, settle: float = 30) -> int:
    """Containers, networks and workspaces the deployment still has once things settled."""
    deadline = time.monotonic() + settle
    while True:
        count = len(d.sandboxes()) + len(d.workspaces())
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(1)


@dataclass
class SandboxWatch:
    """Counts the deployment's runs with a live container, every `every` seconds."""

    queue: str
    every: float = 0.5
    peak: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        client = docker.from_env(timeout=60)
        try:
            label: dict[str, Any] = {"label": f"{DEPLOYMENT_LABEL}={self.queue}"}
            while not self._stop.wait(self.every):
                try:  # sparse: no inspection, so a container removed meanwhile is no error
                    found = client.containers.list(filters=label, sparse=True)
                except docker.errors.APIError:
                    continue
                runs = {(c.attrs.get("Labels") or {}).get(RUN_LABEL) for c in found}
                self.peak = max(self.peak, len(runs))
                self.samples += 1
        finally:
            client.close()


@contextmanager
def watch_sandboxes(queue: str) -> Iterator[SandboxWatch]:
    w = SandboxWatch(queue)
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    try:
        yield w
    finally:
        w._stop.set()
        t.join(timeout=120)


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of process `pid` and all its descendants (from /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


@dataclass
class MemoryWatch:
    """Peak resident memory of the control plane (the given processes and their children)."""

    pids: list[int]
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, sum(tree_rss_bytes(p) for p in self.pids))


@contextmanager
def watch_memory(pids: list[int]) -> Iterator[MemoryWatch]:
    w = MemoryWatch(pids)
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    try:
        yield w
    finally:
        w._stop.set()
        t.join(timeout=10)


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]
