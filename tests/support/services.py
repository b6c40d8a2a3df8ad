"""Throwaway Redis and PostgreSQL servers of one's own (Debian's packages), on free loopback
ports, that a fault test may restart at will without disturbing the shared ones."""

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port


def _wait(check: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(check, capture_output=True, timeout=10).returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"{check[0]} did not answer in {timeout}s")


@dataclass
class RedisServer:
    """A `redis-server` without persistence (a restart loses every message)."""

    port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.folder / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait(["redis-cli", "-p", str(self.port), "ping"])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self.proc = None

    def restart(self, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextmanager
def redis_server(folder: Path) -> Iterator[RedisServer]:
    folder.mkdir(parents=True, exist_ok=True)
    server = RedisServer(free_port(), folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.getuid() == 0 else cmd


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in `folder` (fsync off), user `burndown`, trusted on loopback."""

    port: int
    folder: Path
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://burndown@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-w", "-t", "60", *args]
        subprocess.run(_as_postgres(cmd), check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._ctl("-l", str(self.folder / "pg.log"), "-o", opts, "start")
        _wait([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"])

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")

    def restart(self, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A new cluster in a folder of its own under /tmp (the postgres user must reach it)."""
    pg_bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
    folder = Path(tempfile.mkdtemp(prefix="burndown-chaos-pg-"))
    if os.getuid() == 0:
        shutil.chown(folder, "postgres")
    init = [str(pg_bin / "initdb"), "-D", str(folder / "data"), "-U", "burndown", "--auth=trust"]
    subprocess.run(_as_postgres(init), check=True, capture_output=True, timeout=120)
    server = PostgresServer(free_port(), folder, pg_bin)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
