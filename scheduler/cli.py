"""The `burndown` command. With the Celery app module, the only place things are wired."""

import re
import signal
import subprocess
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import SecretStr
from rich.console import Console

from sandbox.errors import BurndownError
from sandbox.harness.events import EventKind, HarnessEvent
from scheduler.cli_dead import dead_app
from scheduler.cli_doctor import doctor, warn_unconfigured
from scheduler.cli_harness import events, harness_app
from worker.logs import configure_logging
from worker.settings import Settings, get_settings
from worker.store.models import OutcomeKind

if TYPE_CHECKING:
    from worker.pipeline import PipelineDeps

app = typer.Typer(
    help="Burndown: labelled issues in, verified pull requests out.", no_args_is_help=True
)
db_app = typer.Typer(help="The store.", no_args_is_help=True)
sandbox_app = typer.Typer(help="The sandbox image and policy.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(harness_app, name="harness")
app.add_typer(dead_app, name="dead")
app.command("events")(events)
app.command("doctor")(doctor)
# Piped output (scripts, CI) must not be cut to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


def _settings() -> Settings:
    s = get_settings()
    configure_logging(json=s.log_json)
    return s


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store to the latest schema."""
    from worker.store.migrate import upgrade

    s = _settings()
    upgrade(s.resolved_database_url())
    console.print(f"store at {_redact(s.resolved_database_url())} is up to date")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Serve the web API (webhooks)."""
    import uvicorn

    from scheduler.api import create_app
    from scheduler.app_manifest import add_app_setup
    from scheduler.jobs import INTAKE_TASK, register
    from worker.celery_app import create_celery
    from worker.github.stored_app import stored_app
    from worker.wiring import engine_for

    s = _settings()
    celery = create_celery(s)
    register(celery, s)
    secret = s.github_webhook_secret.get_secret_value() if s.github_webhook_secret else None
    stored = stored_app(s.data_dir)  # an App created through /setup/github-app
    secret = secret or (_secret(stored.webhook_secret) if stored else None)
    web = create_app(
        engine=engine_for(s.resolved_database_url()),
        webhook_secret=secret,
        trigger_label=s.trigger_label,
        enqueue_delivery=lambda d: celery.send_task(INTAKE_TASK, args=[d]),
        linear_webhook_secret=_secret(s.linear_webhook_secret),
    )
    add_app_setup(web, s)
    uvicorn.run(web, host=host or s.api_host, port=port or s.api_port, log_level="warning")


@app.command()
def worker(
    role: Annotated[
        str, typer.Option(help="What to serve: runs, intake (deliveries and jobs) or all.")
    ] = "all",
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Tasks at once (default: BURNDOWN_RUN_SLOTS for runs, else "
            "BURNDOWN_INTAKE_CONCURRENCY)."
        ),
    ] = None,
) -> None:
    """Run a Celery worker: runs, intake, or both."""
    from scheduler.workers import Role, serve

    try:
        chosen = Role(role)
    except ValueError:
        console.print(f"[red]error:[/red] --role must be one of {', '.join(Role)}")
        raise typer.Exit(2) from None
    serve(_settings(), chosen, concurrency)


@app.command()
def beat() -> None:
    """Run the periodic scheduler (the reconciler)."""
    from scheduler.jobs import register
    from worker.celery_app import create_celery

    s = _settings()
    celery = create_celery(s)
    register(celery, s)
    celery.start(["beat", "--loglevel=INFO"])


@app.command()
def up() -> None:
    """Start the api, an intake worker, a run worker and beat on this host (SQLite store;
    Redis if configured, else an embedded broker). Ctrl-C stops them all."""
    from worker.store.migrate import upgrade

    s = _settings()
    upgrade(s.resolved_database_url())
    warn_unconfigured(s)
    me = [sys.executable, "-m", "scheduler.cli"]
    commands = [["api"], ["worker", "--role=intake"], ["worker", "--role=runs"], ["beat"]]
    procs = [subprocess.Popen([*me, *args]) for args in commands]
    console.print(f"burndown is up: http://{s.api_host}:{s.api_port} (Ctrl-C stops)")
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(p.poll() is None for p in procs):
        time.sleep(0.5)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=s.shutdown_grace_seconds + 30)
        except subprocess.TimeoutExpired:
            p.kill()
    failed = [
        " ".join(c)
        for c, p in zip(commands, procs, strict=True)
        if p.returncode not in (0, -15, None)
    ]
    if failed and not stopping:
        raise typer.Exit(1)


@sandbox_app.command("build")
def sandbox_build(
    check: Annotated[bool, typer.Option("--check", help="Only report; build nothing.")] = False,
    control_plane: Annotated[
        bool,
        typer.Option("--control-plane", help="Build the control-plane image (API, workers)."),
    ] = False,
) -> None:
    """Build the sandbox image (or the control-plane image) offline; a new tag only when an
    input changes."""
    from functools import partial

    from sandbox.docker_client import docker_client
    from sandbox.images import (
        BuildInputs,
        build_control_plane_image,
        build_sandbox_image,
        check_sandbox_image,
    )
    from sandbox.images.inputs import default_project_root

    _settings()
    progress = partial(console.print, highlight=False)
    try:
        client = docker_client(600)
        inputs = BuildInputs()
        if check:
            st = check_sandbox_image(client, inputs)
            console.print(f"image: {st.tag or 'none'}  current: {'yes' if st.current else 'no'}")
            if st.image_id:
                size = f"{(st.size_bytes or 0) / 1e6:.0f} MB"
                console.print(f"  id {st.image_id[:19]}  created {st.created}  size {size}")
            for name, version in sorted(st.harness_versions.items()):
                console.print(f"  harness {name} {version}")
            for name, version in sorted(st.wheel_versions.items()):
                pinned = inputs.harness_wheels.get(name)
                note = "" if pinned == version else f" (pinned now: {pinned or 'none'})"
                console.print(f"  wheel {name}=={version}{note}")
            if not st.current:
                wanted = st.expected_tag or "a new base image first"
                console.print(f"  the current inputs make {wanted}: run `burndown sandbox build`")
            raise typer.Exit(0 if st.current else 1)
        if control_plane:
            root = default_project_root()
            ref = build_control_plane_image(client, root, inputs, log=progress)
        else:
            ref = build_sandbox_image(client, inputs, log=progress)
    except BurndownError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"{ref.tag} ({'built' if ref.built else 'current'})")


@sandbox_app.command("run")
def sandbox_run(
    command: Annotated[list[str], typer.Argument(help="The command to run, after `--`.")],
    repo: Annotated[
        Path | None,
        typer.Option(help="Folder mounted as /workspace; its .burndown.yml applies."),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Also allow HOST, as a repository's allow_hosts would."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Lower the wall-clock limit (seconds).")
    ] = None,
    idle_timeout: Annotated[
        float | None, typer.Option(help="Lower the idle-output limit (seconds).")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Run id for the labels (default: cli-<random>).")
    ] = None,
) -> None:
    """Run a command in a sandbox under exactly the policy a harness gets. Exits with the
    command's code; 124 wall-clock limit, 123 idle limit, 122 memory limit, 125 sandbox error."""
    from scheduler.sandbox_run import run_in_sandbox

    code = run_in_sandbox(
        _settings(),
        command,
        repo=repo,
        allow=allow or [],
        timeout=timeout,
        idle_timeout=idle_timeout,
        run_id=run_id,
    )
    raise typer.Exit(code)


_REF = re.compile(r"^(?:https?://[^/]+/)?([\w.-]+/[\w.-]+)(?:#|/issues/)(\d+)/?$")


def parse_ref(ref: str) -> tuple[str, int]:
    """`owner/repo#n` or an issue URL -> (owner/repo, n)."""
    m = _REF.match(ref.strip())
    if not m:
        raise typer.BadParameter(f"{ref!r}: expected owner/repo#N or an issue URL")
    return m.group(1), int(m.group(2))


@app.command()
def run(
    ref: Annotated[str, typer.Argument(help="owner/repo#N or an issue URL.")],
    harness: Annotated[
        str | None,
        typer.Option(help="Harness to use; several, comma-separated, compare them on the ticket."),
    ] = None,
) -> None:
    """Process one ticket in the foreground and print the pull request URL. With several
    harnesses the ticket runs once per harness, one after another, each on its own branch
    `burndown/issue-<n>-<harness>`."""
    from sandbox.harness.base import get_harness
    from worker.store.migrate import upgrade
    from worker.wiring import pipeline_deps

    s = _settings()
    repo, number = parse_ref(ref)
    names = [n.strip() for n in (harness or "").split(",") if n.strip()]
    try:
        for name in names:
            get_harness(name)
    except BurndownError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    upgrade(s.resolved_database_url())
    try:
        deps = pipeline_deps(s)
    except BurndownError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if len(names) <= 1:
        _run_one(deps, s, repo, number, names[0] if names else None, compare=False)
        return
    codes = []
    for name in names:
        try:
            _run_one(deps, s, repo, number, name, compare=True)
            codes.append(0)
        except typer.Exit as done:
            codes.append(done.exit_code)
    raise typer.Exit(max(codes))


def _run_one(
    deps: "PipelineDeps",
    s: Settings,
    repo: str,
    number: int,
    harness: str | None,
    *,
    compare: bool,
) -> None:
    from worker.pipeline import branch_for, run_ticket
    from worker.store.repo import queue_ticket, upsert_ticket

    try:
        issue = deps.github.get_issue(repo, number)
        ticket = upsert_ticket(
            deps.engine,
            repo,
            number,
            title=issue.title,
            body=issue.body,
            url=issue.url,
            labeled_by=None,
        )
        assert ticket.id is not None
        if not queue_ticket(deps.engine, ticket.id):
            console.print(f"[red]{repo}#{number} is already queued or running elsewhere[/red]")
            raise typer.Exit(2)
        console.print(f"running {harness or s.harness} on {repo}#{number}: {issue.title}")
        branch = branch_for(ticket, harness) if compare and harness else None
        outcome = run_ticket(ticket.id, deps, harness=harness, on_event=_show, branch=branch)
    except BurndownError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if outcome is None:
        raise typer.Exit(2)
    if outcome.pr_url:
        console.print(outcome.pr_url)
    else:
        console.print(f"[yellow]{outcome.kind}[/yellow]: {outcome.detail}")
        raise typer.Exit(0 if outcome.kind == OutcomeKind.NO_CHANGES else 1)


def _show(e: HarnessEvent) -> None:
    if e.kind == EventKind.TOOL_CALL:
        console.print(f"  [cyan]tool[/cyan] {e.data.get('name')} {str(e.data.get('input'))[:100]}")
    elif e.kind == EventKind.ASSISTANT_TEXT:
        console.print(f"  [green]agent[/green] {str(e.data.get('text'))[:200]}")
    elif e.kind == EventKind.RESULT:
        console.print(f"  [bold]result[/bold] {e.data.get('status')}")


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"


@app.command()
def report(
    since: Annotated[
        str | None, typer.Option(help="Start of the period: YYYY-MM-DD or ISO 8601 (UTC).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="End of the period (excluded).")] = None,
    repo: Annotated[str | None, typer.Option(help="Only this owner/repo.")] = None,
    harness: Annotated[str | None, typer.Option(help="Only runs of this harness.")] = None,
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.TABLE,
    runs: Annotated[int, typer.Option(help="How many of the latest runs to list.")] = 20,
) -> None:
    """Backlog coverage, funnel, merge rate, time and cost, by harness, repository, model,
    label and week, for a period."""
    import json

    from scheduler.render import report_csv, report_json, report_tables
    from scheduler.report import BadQuery, ReportQuery, build_report
    from scheduler.web.pages import overview
    from worker.store.db import make_engine
    from worker.store.migrate import upgrade

    try:
        query = ReportQuery.parse(since, until, repo, harness, runs)
    except BadQuery as exc:
        raise typer.BadParameter(str(exc)) from None
    s = _settings()
    upgrade(s.resolved_database_url())
    r = build_report(make_engine(s.resolved_database_url()), query)
    if format == Format.JSON:
        sys.stdout.write(json.dumps(report_json(r), indent=2) + "\n")
    elif format == Format.CSV:
        sys.stdout.write(report_csv(r))
    elif format == Format.HTML:
        sys.stdout.write(overview(r, standalone=True) + "\n")
    else:
        console.print(report_tables(r))


@app.command()
def sync() -> None:
    """Ask GitHub once what became of the agent's pull requests and issues (what `beat` does
    every BURNDOWN_LIFECYCLE_SYNC_INTERVAL_SECONDS)."""
    from scheduler.jobs import run_lifecycle_sync
    from worker.store.migrate import upgrade

    s = _settings()
    upgrade(s.resolved_database_url())
    try:
        counts = run_lifecycle_sync(s)
    except BurndownError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"pull requests checked: {counts.pulls_checked}  issues seen: {counts.issues_seen}  "
        f"commits read: {counts.commits_seen}  reverts found: {counts.reverts}"
    )
    for error in counts.errors:
        console.print(f"[yellow]{error}[/yellow]")
    if counts.errors:
        raise typer.Exit(1)


def _redact(url: str) -> str:
    return re.sub(r"//[^@/]+@", "//***@", url)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
