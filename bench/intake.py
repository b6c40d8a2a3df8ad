"""Intake at the speed of the web server: signed `issues.labeled` deliveries at concurrency C
against the real API (`burndown api`, a uvicorn process; SQLite and PostgreSQL stores, Celery
on Redis) and against a bare FastAPI app answering 202, in the same run, every server up at
once and loaded in interleaved rounds (a change in the host's load reaches all alike); prints
throughput, ack p50/p99 and the ratios to the bare app.

    uv run python -m bench.intake [--requests 2000] [--concurrency 16] [--rounds 4]

Reads BURNDOWN_TEST_REDIS_URL and BURNDOWN_TEST_POSTGRES_URL
(`eval "$(./scripts/services.sh)"` sets them). `--api-source DIR` runs the API from another
tree (an older commit's `git archive`) to measure before and after in the same way.

The server's CPU time per request is printed too: on a shared host it is the steadier figure.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from scheduler.intake.signature import sign
from tests.support.processes import child_env, free_port, healthy, wait_for
from worker.store.db import make_engine
from worker.store.migrate import upgrade

SECRET = "bench-secret"
FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "github-webhooks"


def bare_app() -> FastAPI:
    """The floor: a FastAPI app that reads the body and answers 202."""
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/webhooks/github")
    async def hook(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse(status_code=202, content={"message": "accepted"})

    return app


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    cpu_ms: float = 0.0  # the server process's CPU time per request: steady on a busy host

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, q: float) -> float:
        return statistics.quantiles(self.latencies, n=100)[int(q) - 1]


def _deliveries(n: int, offset: int) -> list[tuple[bytes, dict[str, str]]]:
    """`n` distinct signed trigger deliveries (distinct bodies: none is a replay)."""
    template = json.loads((FIXTURE / "issues" / "labeled.payload.json").read_text())
    template["label"]["name"] = "burndown"
    out = []
    for i in range(n):
        template["issue"]["number"] = offset + i + 1
        body = json.dumps(template).encode()
        out.append(
            (
                body,
                {
                    "X-GitHub-Event": "issues",
                    "X-GitHub-Delivery": str(uuid.uuid4()),
                    "X-Hub-Signature-256": sign(SECRET, body),
                    "Content-Type": "application/json",
                },
            )
        )
    return out


async def _load(name: str, url: str, sends: list[tuple[bytes, dict[str, str]]], c: int) -> Result:
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for item in sends:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                body, headers = queue.get_nowait()
                t0 = time.perf_counter()
                r = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(c)))
        seconds = time.perf_counter() - start
    return Result(name, seconds, latencies, statuses)


@contextmanager
def _server(
    args: list[str], env: dict[str, str], log: Path, cwd: str | None = None
) -> Iterator[tuple[str, int]]:
    import subprocess

    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args, "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(log.stem, lambda: healthy(f"{base}/healthz"), 60, [log])
            yield f"{base}/webhooks/github", proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _warm(server: tuple[str, int], c: int, offset: int) -> None:
    asyncio.run(_load("warm-up", server[0], _deliveries(200, offset), c))


def _rounds(servers: dict[str, tuple[str, int]], n: int, c: int, rounds: int) -> list[Result]:
    """`n` deliveries to each server, in `rounds` interleaved rounds, so that a change in the
    host's load reaches every server alike."""
    for i, server in enumerate(servers.values()):
        _warm(server, c, 10**6 + 1000 * i)
    totals = {name: Result(name, 0.0, [], {}) for name in servers}
    per = n // rounds
    for k in range(rounds):
        for name, (url, pid) in servers.items():
            cpu = _cpu_seconds(pid)
            r = asyncio.run(_load(name, url, _deliveries(per, k * per), c))
            t = totals[name]
            t.cpu_ms += (_cpu_seconds(pid) - cpu) * 1000
            t.seconds += r.seconds
            t.latencies += r.latencies
            for status, count in r.statuses.items():
                t.statuses[status] = t.statuses.get(status, 0) + count
    for t in totals.values():
        t.cpu_ms /= len(t.latencies)
    return list(totals.values())


def _burndown_env(tmp: Path, db_url: str, queue: str) -> dict[str, str]:
    return child_env(
        {
            "BURNDOWN_DATA_DIR": str(tmp),
            "BURNDOWN_DATABASE_URL": db_url,
            "BURNDOWN_BROKER_URL": os.environ["BURNDOWN_TEST_REDIS_URL"],
            "BURNDOWN_QUEUE": queue,
            "BURNDOWN_GITHUB_WEBHOOK_SECRET": SECRET,
            "BURNDOWN_LOG_JSON": "true",
        }
    )


@contextmanager
def _postgres_db() -> Iterator[str]:
    base = os.environ["BURNDOWN_TEST_POSTGRES_URL"]
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--stores", default="sqlite,postgres")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds per server")
    ap.add_argument(
        "--api-source", help="run the API from this source tree (e.g. an older commit's)"
    )
    args = ap.parse_args()
    n, c = args.requests, args.concurrency
    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    queue = f"bench-intake-{uuid.uuid4().hex[:6]}"
    bare = ["uvicorn", "--factory", "bench.intake:bare_app", "--log-level", "warning"]
    try:
        with ExitStack() as stack:
            servers = {
                "bare FastAPI": stack.enter_context(_server(bare, child_env({}), tmp / "bare.log"))
            }
            for store in args.stores.split(","):
                db_url = stack.enter_context(_store(store, tmp))
                upgrade(db_url)
                env = _burndown_env(tmp, db_url, queue)
                if args.api_source:
                    env["PYTHONPATH"] = args.api_source
                log = tmp / f"api-{store}.log"
                api = ["scheduler.cli", "api"]
                servers[f"burndown api ({store})"] = stack.enter_context(
                    _server(api, env, log, args.api_source)
                )
            results = _rounds(servers, n, c, args.rounds)
    finally:
        redis.Redis.from_url(os.environ["BURNDOWN_TEST_REDIS_URL"]).delete(queue)
    _print(results, n, c)


@contextmanager
def _store(store: str, tmp: Path) -> Iterator[str]:
    if store == "sqlite":
        yield f"sqlite:///{tmp / 'store.db'}"
    else:
        with _postgres_db() as url:
            yield url


def _print(results: list[Result], n: int, c: int) -> None:
    floor = results[0]
    print(f"intake: {n} signed deliveries to each, at concurrency {c}, in interleaved rounds")
    print(
        f"  {'target':<26} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x slower':>9}"
        f" {'p99 x':>6} {'cpu ms/req':>10} {'cpu x':>6}"
    )
    for r in results:
        print(
            f"  {r.name:<26} {r.throughput:8.1f} {r.pct(50) * 1000:8.1f} {r.pct(99) * 1000:8.1f}"
            f" {floor.throughput / r.throughput:9.2f} {r.pct(99) / floor.pct(99):6.2f}"
            f" {r.cpu_ms:10.2f} {r.cpu_ms / floor.cpu_ms:6.2f}  {dict(sorted(r.statuses.items()))}"
        )


if __name__ == "__main__":
    main()
