"""The `burndown` command, one module per group of commands: `serve` (api, worker, beat, up),
`tickets` (run, sync), `report`, `sandbox` (build, run), `harness`, `store` (db), `dead`, `env`,
`cache` (prune, drain).

Settings become objects only through `worker.wiring`; each command reads them once.
"""

from scheduler.cli import report, sandbox, serve, store, tickets  # noqa: F401  (registers)
from scheduler.cli.app import app, db_app, sandbox_app
from scheduler.cli.cache import cache_app
from scheduler.cli.dead import dead_app
from scheduler.cli.doctor import doctor
from scheduler.cli.env import env_app
from scheduler.cli.harness import events, harness_app
from scheduler.cli.prices import prices

app.add_typer(db_app, name="db")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(harness_app, name="harness")
app.add_typer(dead_app, name="dead")
app.add_typer(env_app, name="env")
app.add_typer(cache_app, name="cache")
app.command("events")(events)
app.command("doctor")(doctor)
app.command("prices")(prices)

__all__ = ["app", "main"]


def main() -> None:
    """The `burndown` console script."""
    app()
