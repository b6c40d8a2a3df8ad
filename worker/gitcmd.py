"""One way to run git on the host: no prompt, no system config, the token per command in the
environment (never on disk, never in an error), a timeout on every call."""

import base64
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from worker.errors import GitError


def auth_env(token: str | None) -> dict[str, str]:
    """The variables that hand `token` to one git command as an HTTP header."""
    if not token:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    home: Path,
    timeout: float,
    token: str | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
) -> bytes:
    """Run `git args` and return its stdout; `GitError` (token masked) when it fails or times
    out. `token` is sent as an HTTP header for this command only."""
    full = {
        "LC_ALL": "C",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(home),
        **auth_env(token),
        **(env or {}),
    }
    try:
        proc = subprocess.run(
            ["git", "-c", "core.quotePath=false", *args],
            cwd=cwd,
            env=full,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"git {_name(args)} timed out after {timeout:.0f} s") from None
    except OSError as exc:
        raise GitError(f"git {_name(args)} could not start: {exc}") from exc
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        if token:
            stderr = stderr.replace(token, "***")
        raise GitError(f"git {_name(args)} failed ({proc.returncode}): {stderr[-2000:]}")
    return proc.stdout


def text(out: bytes) -> str:
    """git's output as text; any file name round-trips back into git's arguments unchanged."""
    return out.decode("utf-8", "surrogateescape").rstrip("\n")


def _name(args: Sequence[str]) -> str:
    """The git command of `args`, past any `-c key=value`."""
    skip = False
    for arg in args:
        if not skip and not arg.startswith("-"):
            return arg
        skip = arg == "-c"
    return args[0] if args else "?"
