"""Small helpers the image builders share on the host: subprocesses with a timeout, a cache
lock, hard links into build contexts, and the progress sink.

Everything takes explicit arguments; nothing runs at import time. Every failure is an
`ImageError` (foreign errors chained with `from`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from sandbox.errors import ImageError

#: Receives one line of progress text at a time; the CLI prints it, tests may ignore it.
LogFn = Callable[[str], None]

_TAIL_CHARS = 4000


def no_log(_line: str) -> None:
    """The default progress sink: drop the line."""


def run_command(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
) -> str:
    """Run `argv` to completion within `timeout` seconds and return its standard output.

    Standard error is captured and quoted (its tail) in the `ImageError` raised when the command
    cannot be started, times out or exits non-zero.
    """
    label = what or Path(argv[0]).name
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise ImageError(f"{label} timed out after {timeout:.0f} s: {_show(argv)}") from exc
    except OSError as exc:
        raise ImageError(f"{label} could not be started: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout or "").strip()[-_TAIL_CHARS:]
        raise ImageError(f"{label} exited with {done.returncode}: {_show(argv)}\n{tail}")
    return done.stdout


def _show(argv: Sequence[str]) -> str:
    return " ".join(argv)


@contextlib.contextmanager
def cache_lock(lock_path: Path, *, timeout: float = 3600.0) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_path` so two builders do not fill one cache slot.

    Waits at most `timeout` seconds for another holder, then raises `ImageError`.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with lock_path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() > deadline:
                    raise ImageError(f"timed out waiting for the cache lock {lock_path}") from exc
                time.sleep(0.5)
        try:
            yield
        finally:
            # Closing the file releases the lock as well: a failed unlock must hide no error.
            with contextlib.suppress(OSError):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (cheap for large binaries), copying across file systems."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
