"""`burndown env list / build / prune`: the repositories' environments kept as images."""

import os
import shutil
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from sandbox.errors import BurndownError
from scheduler.cli.app import console, settings

env_app = typer.Typer(
    help="Repositories' environments: their setup, run once and kept as an image.",
    no_args_is_help=True,
)


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


@env_app.command("list")
def env_list() -> None:
    """Every environment image on this Docker host: tag, age, toolchain, size."""
    from sandbox.env_image import DockerEnvironmentImages

    s = settings()
    try:
        images = DockerEnvironmentImages(api_timeout=s.docker_timeout_seconds).list()
    except BurndownError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if not images:
        console.print("no environments")
    now = time.time()
    for image in images:
        age = now - image.created
        stale = "  (past its time to live)" if age > s.environment_ttl_seconds else ""
        toolchain = image.labels.get("org.burndown.env.toolchain", "-")
        console.print(
            f"{image.tag}  {_age(age)} old  toolchain {toolchain}  "
            f"{image.size_bytes / 1e6:.0f} MB  from {image.labels.get('org.burndown.env.image')}"
            f"{stale}"
        )


@env_app.command("build")
def env_build(
    repo: Annotated[Path, typer.Option(help="The repository's folder (its .burndown.yml).")],
    force: Annotated[bool, typer.Option(help="Build again even if it is current.")] = False,
) -> None:
    """Build (or find current) the environment of the repository in `--repo`, as a run would."""
    from sandbox.env_image import DockerEnvironmentImages
    from sandbox.harness.run import sandbox_user
    from worker.environments import ensure_environment, plan_environment
    from worker.repo_config import CONFIG_FILE, parse_repo_config
    from worker.wiring import max_policy

    s = settings()

    def read(path: str) -> str | None:
        file = repo / path
        return file.read_text(errors="replace") if file.is_file() else None

    try:
        plan = plan_environment(
            parse_repo_config(read(CONFIG_FILE)),
            read,
            default_image=s.sandbox_image,
            toolchain_image=s.sandbox_toolchain_image,
            operator_package_hosts=s.sandbox_package_hosts,
        )
        console.print(f"toolchain: {plan.toolchain or 'none'} ({plan.source}); image {plan.image}")
        if not plan.setup:
            console.print("no setup: the runs start from the image itself")
            return
        images = DockerEnvironmentImages(api_timeout=s.docker_timeout_seconds)
        start = images.find(plan.image)
        if start is None:
            raise BurndownError(
                f"{plan.image} is missing: run `burndown sandbox build --toolchain`"
            )
        plan = replace(plan, inputs={**plan.inputs, "image_id": start.image_id})  # as a run
        with tempfile.TemporaryDirectory(prefix="burndown-env-") as tmp:
            tree = Path(tmp) / "workspace"
            shutil.copytree(repo, tree, ignore=shutil.ignore_patterns(".git"), symlinks=True)
            user = sandbox_user()
            if os.geteuid() == 0:
                uid, gid = (int(x) for x in user.split(":"))
                for path in [tree, *tree.rglob("*")]:
                    os.lchown(path, uid, gid)
            started = time.monotonic()
            outcome = ensure_environment(
                images,
                plan,
                tree,
                policy=max_policy(s),
                user=user,
                labels={"org.burndown.run-id": f"env-{uuid.uuid4().hex[:12]}"},
                ttl_seconds=0.0 if force else s.environment_ttl_seconds,
                lock_dir=s.data_dir.resolve() / "locks",
                on_line=lambda line: console.print(line, highlight=False, markup=False),
            )
    except BurndownError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    took = time.monotonic() - started
    console.print(f"{outcome.image} ({outcome.detail}, {took:.0f} s)")
    raise typer.Exit(0 if outcome.ready else 1)


@env_app.command("prune")
def env_prune(
    everything: Annotated[bool, typer.Option("--all", help="Remove every environment.")] = False,
    older_than: Annotated[
        float | None, typer.Option(help="Seconds; default: BURNDOWN_ENVIRONMENT_TTL_SECONDS.")
    ] = None,
) -> None:
    """Remove the environments past their time to live (one in use stays)."""
    from sandbox.env_image import DockerEnvironmentImages
    from worker.environments import prune

    s = settings()
    try:
        images = DockerEnvironmentImages(api_timeout=s.docker_timeout_seconds)
        ttl = older_than if older_than is not None else s.environment_ttl_seconds
        removed = prune(images, ttl, everything=everything)
    except BurndownError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    for tag in removed:
        console.print(f"removed {tag}")
    console.print(f"{len(removed)} removed")
