"""A whole Burndown deployment on this machine, for fault tests and the chaos bench: the
GitHub stand-in with labelled issues, the scripted harness in the real sandbox image, and the
real `burndown` processes (api, intake and run workers, beat) on real Redis and PostgreSQL.

Processes start in their own session, so a fault can kill a worker with its pool children at
once (`kill`), as a lost machine would.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
from sqlalchemy import Engine, text

from sandbox.harness.scripted import SCRIPT_ENV, Run, Script, Sleep
from sandbox.runtime import DEPLOYMENT_LABEL
from tests.support.github_standin import GitHubStandIn, labeled, signed
from tests.support.processes import child_env, free_port, healthy, wait_for
from worker.store.db import make_engine

REPO = "acme/widgets"
SECRET = "chaos-webhook-secret"
README = "# Widgets\n\nTeh widgets.\n"
END_STATES = ("done", "failed", "cancelled", "dead")


def fix_script(sleep_seconds: float = 0.0) -> Script:
    """Fix the README's typo, then (for long runs) wait a while before finishing."""
    actions: list[Run | Sleep] = [Run(command="sed -i 's/Teh/The/' README.md")]
    if sleep_seconds:
        actions.append(Sleep(seconds=sleep_seconds))
    return Script(actions=actions)


@dataclass
class Deployment:
    """One deployment: its stand-in, environment, processes and store."""

    github: GitHubStandIn
    env: dict[str, str]
    tmp: Path
    port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)
    _engine: Engine | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def queue(self) -> str:
        return self.env["BURNDOWN_QUEUE"]

    def start(self, name: str, args: list[str], **extra: str) -> subprocess.Popen[bytes]:
        """Start `burndown ARGS` as `name` (its log is tmp/NAME.log), in its own session."""
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "scheduler.cli", *args],
                env={**self.env, **extra},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.tmp,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def signal(self, name: str, sig: signal.Signals, *, group: bool = False) -> None:
        """Send `sig` to process `name` (with `group`, to its pool children too)."""
        proc = self.procs[name]
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)

    def kill(self, name: str) -> None:
        """SIGKILL process `name` and its children at once, and reap it."""
        proc = self.procs.pop(name)
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                proc.terminate()
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=20)
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def api(self) -> None:
        self.start("api", ["api", "--port", str(self.port)])
        wait_for("the API", lambda: healthy(f"{self.base}/healthz"), 60, self.logs)

    def issue(self, title: str = "Fix the typo") -> int:
        number = self.github.create_issue(REPO, title, "It says Teh.", "maria")
        self.github.add_label(REPO, number, "burndown")
        return number

    def deliver(self, number: int, timeout: float = 30) -> float:
        """Send the `labeled` delivery of issue `number`; seconds until it was acknowledged."""
        body, headers = signed(
            SECRET,
            labeled(repo=REPO, number=number, sender="maria", title="Fix the typo", body="x"),
        )
        t0 = time.monotonic()
        r = httpx.post(
            f"{self.base}/webhooks/github", content=body, headers=headers, timeout=timeout
        )
        assert r.status_code == 202, r.text
        return time.monotonic() - t0

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.env["BURNDOWN_DATABASE_URL"])
        return self._engine

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as c:
            return list(c.execute(text(sql), params))

    def statuses(self) -> Counter[str]:
        """How many tickets stand where (`done`, `running`, ...)."""
        return Counter(str(r[0]) for r in self.rows("SELECT status FROM ticket"))

    def ticket_status(self, number: int) -> str | None:
        found = self.rows("SELECT status FROM ticket WHERE number = :n", n=number)
        return str(found[0][0]) if found else None

    def runs_of(self, number: int) -> list[tuple[str, str | None, str | None]]:
        """(status, outcome kind, error) of each run of issue `number`, in order."""
        rows = self.rows(
            "SELECT r.status, o.kind, r.error FROM run r JOIN ticket t ON r.ticket_id = t.id "
            "LEFT JOIN outcome o ON o.run_id = r.id WHERE t.number = :n ORDER BY r.id",
            n=number,
        )
        return [(str(a), None if b is None else str(b), c) for a, b, c in rows]

    def wait(self, what: str, check: Any, timeout: float) -> Any:
        return wait_for(what, check, timeout, self.logs)

    def pulls_per_branch(self) -> Counter[str]:
        return Counter(str(p["head"]["ref"]) for p in self.github.pulls(REPO))

    def duplicate_comments(self, numbers: list[int]) -> int:
        """Comments whose body another comment on the same issue already has."""
        dupes = 0
        for n in numbers:
            bodies = Counter(c["body"] for c in self.github.issue_comments(REPO, n))
            dupes += sum(k - 1 for k in bodies.values())
        return dupes

    def sandboxes(self) -> list[str]:
        """Ids of the deployment's containers and networks (one listing, no inspection, so a
        container removed meanwhile is no error)."""
        client = docker.from_env(timeout=60)
        try:
            label: dict[str, Any] = {"label": f"{DEPLOYMENT_LABEL}={self.queue}"}
            boxes = client.containers.list(all=True, filters=label, sparse=True)
            return [str(c.id) for c in boxes] + [
                str(n.id) for n in client.networks.list(filters=label)
            ]
        finally:
            client.close()

    def remove_sandboxes(self) -> None:
        """Remove what the deployment still has on Docker (a test that ends mid-run)."""
        client = docker.from_env(timeout=60)
        try:
            label: dict[str, Any] = {"label": f"{DEPLOYMENT_LABEL}={self.queue}"}
            for c in client.containers.list(all=True, filters=label, sparse=True):
                with suppress(docker.errors.APIError):
                    client.api.remove_container(str(c.id), force=True)
            for n in client.networks.list(filters=label):
                with suppress(docker.errors.APIError):
                    n.remove()
        finally:
            client.close()

    def workspaces(self) -> list[Path]:
        root = Path(self.env["BURNDOWN_DATA_DIR"]) / "workspaces"
        return sorted(root.iterdir()) if root.exists() else []


@contextmanager
def deployment(
    github: GitHubStandIn,
    tmp: Path,
    *,
    image: str,
    database_url: str,
    redis_url: str,
    script: Script,
    **settings: str,
) -> Iterator[Deployment]:
    """A deployment on `github` (given a repository, people and permissions here) whose agent
    plays `script`; its processes are stopped on exit."""
    bot = github.add_user("burndown-bot")
    github.add_user("maria")
    github.add_repo(REPO, {"README.md": README, "src/app.py": "x = 1\n"})
    github.set_permission(REPO, "maria", "maintain")
    github.set_permission(REPO, "burndown-bot", "write")
    port = free_port()
    env = child_env(
        {
            "BURNDOWN_DATA_DIR": str(tmp / "data"),
            "BURNDOWN_QUEUE": f"chaos-{uuid.uuid4().hex[:8]}",
            "BURNDOWN_DATABASE_URL": database_url,
            "BURNDOWN_BROKER_URL": redis_url,
            "BURNDOWN_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "BURNDOWN_GITHUB_API_URL": github.api_url,
            "BURNDOWN_GITHUB_TOKEN": bot,
            "BURNDOWN_GITHUB_WEBHOOK_SECRET": SECRET,
            "BURNDOWN_SANDBOX_IMAGE": image,
            "BURNDOWN_HARNESS": "scripted",
            "BURNDOWN_HARNESS_ENV": json.dumps({SCRIPT_ENV: script.model_dump_json()}),
            "BURNDOWN_HEARTBEAT_INTERVAL_SECONDS": "1",
            "BURNDOWN_RECONCILE_INTERVAL_SECONDS": "2",
            "BURNDOWN_RESEND_MAX_WAIT_SECONDS": "4",
            "BURNDOWN_SANDBOX_REAP_GRACE_SECONDS": "0",
            "BURNDOWN_LOG_JSON": "true",
            **settings,
        }
    )
    (tmp / "data").mkdir(parents=True, exist_ok=True)
    d = Deployment(github=github, env=env, tmp=tmp, port=port)
    with ExitStack() as stack:
        stack.callback(d.remove_sandboxes)
        stack.callback(d.stop_all)
        subprocess.run(
            [sys.executable, "-m", "scheduler.cli", "db", "upgrade"],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield d
    if d._engine is not None:
        d._engine.dispose()
