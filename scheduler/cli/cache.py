"""`burndown cache`: the repository cache (mirrors and spare trees) and the warm pool."""

from typing import Annotated

import typer

from sandbox.errors import BurndownError
from scheduler.cli.app import console, settings
from worker.wiring import container_runtime, prune_repo_cache

cache_app = typer.Typer(help="The repository cache and the warm pool.", no_args_is_help=True)


@cache_app.command("prune")
def cache_prune(
    all_: Annotated[
        bool, typer.Option("--all", help="Every mirror not in use, whatever its age.")
    ] = False,
) -> None:
    """Remove mirrors unused for BURNDOWN_REPO_CACHE_MAX_AGE_HOURS, then the oldest until the
    rest fit in BURNDOWN_REPO_CACHE_MAX_MB (mirrors in use are kept), and their spare trees."""
    s = settings()
    if all_:
        s = s.model_copy(update={"repo_cache_max_age_hours": 1e-9})
    report = prune_repo_cache(s)
    if report is None:
        console.print("the repository cache is off (BURNDOWN_REPO_CACHE=false)")
        return
    for name in report.removed:
        console.print(f"removed {name}")
    console.print(f"{len(report.removed)} removed, {report.kept_bytes / 2**20:.0f} MiB kept")


@cache_app.command("drain")
def pool_drain() -> None:
    """Remove this deployment's warm sandboxes that no run has taken (runs keep theirs)."""
    pool = container_runtime(settings()).pool
    if pool is None:
        console.print("no warm pool (BURNDOWN_SANDBOX_POOL_SIZE=0)")
        return
    try:
        console.print(f"{pool.drain()} warm sandboxes removed")
    except BurndownError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
