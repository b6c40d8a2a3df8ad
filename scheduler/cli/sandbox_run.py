"""`burndown sandbox run`: one command in a sandbox under exactly the policy a harness gets.

Operators use it to check their setup; the tests use it to attack the policy. The command's
stdout and stderr stream through; its exit code becomes ours, except that a limit hit is
reported as such with a code of its own.
"""

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from sandbox.errors import BurndownError
from sandbox.harness.run import SANDBOX_UID, HarnessJob, command_spec
from sandbox.runtime import ContainerExit, Limit
from worker.errors import ConfigError
from worker.pipeline import plan_for
from worker.repo_config import CONFIG_FILE, RepoConfig, parse_repo_config
from worker.settings import Settings
from worker.wiring import container_runtime, pipeline_config

EXIT_FOR_LIMIT: dict[Limit, int] = {"time": 124, "idle": 123, "memory": 122}
EXIT_SANDBOX_ERROR = 125
_SAY = {
    "time": "the sandbox hit its wall-clock limit ({:g}s) and was killed",
    "idle": "the sandbox printed nothing for {:g}s (its idle limit) and was killed",
    "memory": "the sandbox hit its memory limit ({}) and was killed",
}


def run_in_sandbox(
    settings: Settings,
    command: Sequence[str],
    *,
    repo: Path | None = None,
    allow: Sequence[str] = (),
    timeout: float | None = None,
    idle_timeout: float | None = None,
    run_id: str | None = None,
    image: str | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run `command` with `repo` (or an empty folder) as /workspace; the exit code to exit
    with. `allow` adds hosts as a repository's `sandbox.allow_hosts` would (within the
    operator's limits); `timeout`/`idle_timeout` can only lower the limits."""
    if not command:
        print("error: no command given (burndown sandbox run -- CMD ...)", file=err)
        return 2
    _exit_cleanly_on_sigterm()
    try:
        cfg = pipeline_config(settings)
        plan = plan_for(cfg, _repo_config(repo, allow, timeout, idle_timeout))
        for host in plan.refused_hosts:
            print(f"burndown: {host} is not allowed by the operator; left out", file=err)
        with _workspace(repo) as path:
            job = HarnessJob(
                harness=plan.harness,
                prompt="",
                image=image or cfg.image,
                workspace=path,
                policy=plan.policy,
                options=plan.options,
                models=cfg.models,
                run_id=run_id or f"cli-{uuid.uuid4().hex[:12]}",
                deployment=cfg.deployment,
            )
            spec = command_spec(job, list(command))
            runtime = container_runtime(settings)
            exit_ = runtime.run(spec, _Print(out), _Print(err))
    except BurndownError as exc:
        print(f"burndown: {exc}", file=err)
        return EXIT_SANDBOX_ERROR
    p = plan.policy
    return _report(exit_, p.timeout_seconds, p.idle_timeout_seconds, p.memory, err)


def _exit_cleanly_on_sigterm() -> None:
    """A terminated `burndown sandbox run` unwinds (removing its containers and network)
    instead of dying with them left behind."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def _repo_config(
    repo: Path | None, allow: Sequence[str], timeout: float | None, idle: float | None
) -> RepoConfig:
    text = None
    if repo is not None:
        if not repo.is_dir():
            raise ConfigError(f"--repo {repo}: not a folder")
        config = repo / CONFIG_FILE
        text = config.read_text() if config.is_file() else None
    cfg = parse_repo_config(text)
    wishes = {
        "allow_hosts": [*cfg.sandbox.allow_hosts, *allow],
        **({"timeout_seconds": timeout} if timeout else {}),
        **({"idle_timeout_seconds": idle} if idle else {}),
    }
    try:
        sandbox = cfg.sandbox.model_validate({**cfg.sandbox.model_dump(), **wishes})
    except ValueError as exc:
        raise ConfigError(f"--allow/--timeout: {exc}") from None
    return cfg.model_copy(update={"sandbox": sandbox})


@contextlib.contextmanager
def _workspace(repo: Path | None) -> Iterator[Path]:
    """The folder to mount: the operator's (not chowned: it is theirs), or an empty one made
    the sandbox user's."""
    if repo is not None:
        yield repo.resolve()
        return
    path = Path(tempfile.mkdtemp(prefix="burndown-sandbox-"))
    try:
        if os.geteuid() == 0:
            os.chown(path, SANDBOX_UID, SANDBOX_UID)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class _Print:
    """A line sink writing through at once: the command's output, not ours to format."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()


def _report(exit_: ContainerExit, timeout: float, idle: float, memory: str, err: TextIO) -> int:
    for e in exit_.egress:
        if e.event == "suppressed":
            print(f"burndown: egress: {e.count} more refusals", file=err)
        else:
            print(
                f"burndown: egress {e.event}: {e.method} {e.host}:{e.port} ({e.reason})", file=err
            )
    limit = exit_.limit
    if limit is not None:
        value: object = {"time": timeout, "idle": idle, "memory": memory}[limit]
        print(f"burndown: {_SAY[limit].format(value)}", file=err)
        return EXIT_FOR_LIMIT[limit]
    return exit_.exit_code if exit_.exit_code is not None else EXIT_SANDBOX_ERROR
