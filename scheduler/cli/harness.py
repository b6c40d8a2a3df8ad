"""`burndown harness ...` and `burndown events`: harnesses on a local repository, event export.

CLI wiring only: the work is `sandbox.harness.run` (the same code path as the pipeline's).
"""

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Annotated

import typer

from sandbox.errors import BurndownError
from sandbox.harness.events import HarnessEvent
from sandbox.harness.protocol import HarnessOptions
from sandbox.harness.registry import get_harness, harness_names
from worker.logs import configure_logging
from worker.settings import get_settings

harness_app = typer.Typer(help="Coding-agent harnesses.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@harness_app.command("list")
def harness_list() -> None:
    """The harnesses Burndown can run, with the options each makes real."""
    for name in harness_names():
        h = get_harness(name)
        options = ", ".join(sorted(h.supported_options | {"model", "time_limit", "extra_env"}))
        typer.echo(f"{name}\t{h.provider}\t{options}")


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _fail(f"--env takes KEY=VALUE, not {pair!r}")
        out[key] = value
    return out


@harness_app.command("run")
def harness_run(
    name: Annotated[str, typer.Argument(help="Harness (see `burndown harness list`).")],
    repo: Annotated[Path, typer.Option(help="A local git checkout; the agent edits it.")],
    prompt: Annotated[str, typer.Option(help="The task.")],
    model: Annotated[str | None, typer.Option(help="Model.")] = None,
    max_turns: Annotated[int | None, typer.Option(help="Turn limit.")] = None,
    max_budget_usd: Annotated[float | None, typer.Option(help="Spend limit, USD.")] = None,
    time_limit: Annotated[float | None, typer.Option(help="Wall-clock limit, seconds.")] = None,
    system_prompt: Annotated[str | None, typer.Option(help="Extra system prompt.")] = None,
    allow_tool: Annotated[list[str] | None, typer.Option(help="Allowed tool.")] = None,
    disallow_tool: Annotated[list[str] | None, typer.Option(help="Disallowed tool.")] = None,
    env: Annotated[list[str] | None, typer.Option(help="Extra environment, KEY=VALUE.")] = None,
) -> None:
    """Run a harness in the sandbox on a local repository (no GitHub), printing its unified
    events as JSON lines as they arrive. Exits 0 when the harness reports success."""
    from sandbox.harness.events import EventKind, ResultStatus
    from sandbox.harness.run import HarnessJob, run_harness
    from worker.pipeline import plan_for
    from worker.repo_config import RepoConfig
    from worker.wiring import container_runtime, pipeline_config

    s = get_settings()
    configure_logging(json=s.log_json)
    path = repo.resolve()
    if not (path / ".git").exists():
        raise _fail(f"{path} is not a git checkout")
    owner = path.stat()
    if owner.st_uid == 0:
        raise _fail(
            f"{path} belongs to root and the sandbox never runs as root: chown it to a normal user"
        )
    options = HarnessOptions(
        model=model or s.harness_models.get(name) or s.model,
        max_turns=max_turns,
        max_budget_usd=max_budget_usd,
        time_limit_seconds=time_limit,
        extra_system_prompt=system_prompt,
        allowed_tools=allow_tool or [],
        disallowed_tools=disallow_tool or [],
        extra_env={**s.harness_env, **_env_pairs(env or [])},
    )
    results: list[HarnessEvent] = []

    def show(event: HarnessEvent) -> None:
        if event.kind == EventKind.RESULT:
            results.append(event)
        sys.stdout.write(event.model_dump_json() + "\n")
        sys.stdout.flush()

    try:
        # The same policy a pipeline run gets: limits, and egress only to the model endpoint.
        cfg = pipeline_config(s)
        plan = plan_for(cfg, RepoConfig(), override=name)
        job = HarnessJob(
            harness=plan.harness,
            prompt=prompt,
            image=s.sandbox_image,
            workspace=path,
            policy=plan.policy,
            options=options,
            models=cfg.models,
            run_id=f"cli-{uuid.uuid4().hex[:12]}",
            deployment=cfg.deployment,
            user=f"{owner.st_uid}:{owner.st_gid}",
        )
        runtime = container_runtime(s)
        exit_ = run_harness(runtime, job, show).exit
    except BurndownError as exc:
        raise _fail(str(exc)) from None
    ok = bool(results) and results[-1].data.get("status") == ResultStatus.SUCCESS
    if not ok and exit_.stderr_tail.strip():
        typer.echo(exit_.stderr_tail.strip()[-2000:], err=True)
    raise typer.Exit(0 if ok else 1)


def events(run_id: Annotated[int, typer.Argument(help="The run's id.")]) -> None:
    """Print a run's stored events as JSON lines (harness events with their raw native event,
    and pipeline stages), in order."""
    from worker.store.migrate import upgrade
    from worker.store.repo import run_events
    from worker.wiring import engine_for, secret_scanner

    s = get_settings()
    configure_logging(json=s.log_json)
    upgrade(s.resolved_database_url())
    secrets = secret_scanner(s)
    rows = run_events(engine_for(s.resolved_database_url()), run_id)
    if not rows:
        raise _fail(f"run {run_id} has no events (or does not exist)")
    for row in rows:
        line = {
            "run_id": row.run_id,
            "seq": row.seq,
            "source": row.source,
            "kind": row.kind,
            "data": secrets.redact_data(json.loads(row.data)),
            "created_at": row.created_at.isoformat(),
        }
        sys.stdout.write(json.dumps(line) + os.linesep)
