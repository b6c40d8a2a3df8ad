"""`burndown api`, `worker`, `beat` and `up`: the long-running processes."""

import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from scheduler.cli.app import app, console, settings
from scheduler.cli.doctor import warn_unconfigured

if TYPE_CHECKING:
    pass


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Serve the web API (webhooks)."""
    import uvicorn

    from scheduler.jobs import INTAKE_BATCH_TASK, register
    from scheduler.web.app import create_app
    from scheduler.web.app_manifest import add_app_setup
    from worker.celery_app import create_celery
    from worker.github.stored_app import stored_app
    from worker.wiring import budgets, engine_for, secret_scanner

    s = settings()
    celery = create_celery(s)
    register(celery, s)
    secret = s.github_webhook_secret.get_secret_value() if s.github_webhook_secret else None
    stored = stored_app(s.data_dir)  # an App created through /setup/github-app
    if secret is None and stored is not None and stored.webhook_secret is not None:
        secret = stored.webhook_secret.get_secret_value()
    web = create_app(
        engine=engine_for(s.resolved_database_url()),
        webhook_secret=secret,
        trigger_label=s.trigger_label,
        enqueue_deliveries=lambda ds: celery.send_task(INTAKE_BATCH_TASK, args=[ds]),
        operator_token=s.operator_token.get_secret_value() if s.operator_token else None,
        budgets=budgets(s),
        secrets=secret_scanner(s),
        linear_webhook_secret=(
            s.linear_webhook_secret.get_secret_value() if s.linear_webhook_secret else None
        ),
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
    from scheduler.jobs.workers import Role, serve

    try:
        chosen = Role(role)
    except ValueError:
        console.print(f"[red]error:[/red] --role must be one of {', '.join(Role)}")
        raise typer.Exit(2) from None
    serve(settings(), chosen, concurrency)


@app.command()
def beat() -> None:
    """Run the periodic scheduler (the reconciler)."""
    from scheduler.jobs import register
    from worker.celery_app import create_celery

    s = settings()
    celery = create_celery(s)
    register(celery, s)
    celery.start(["beat", "--loglevel=INFO"])


@app.command()
def up() -> None:
    """Start the api, an intake worker, a run worker and beat on this host (SQLite store;
    Redis if configured, else an embedded broker). Ctrl-C stops them all."""
    from worker.store.migrate import upgrade

    s = settings()
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
