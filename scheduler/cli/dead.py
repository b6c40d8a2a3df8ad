"""`burndown dead`: the dead letters (deliveries and tickets given up on), and retrying them."""

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from worker.logs import configure_logging
from worker.settings import get_settings
from worker.store.liveness import dead_letters, retry_dead
from worker.wiring import store

dead_app = typer.Typer(help="Dead letters: what the reconciler gave up on, and why.")
console = Console()


@dead_app.command("list")
def list_dead() -> None:
    """List every dead letter with its reason."""
    s = get_settings()
    configure_logging(json=s.log_json)
    table = Table("kind", "id", "since", "reason")
    for d in dead_letters(store(s)):
        table.add_row(d.kind, d.id, d.at.isoformat() if d.at else "", d.reason)
    console.print(table)


@dead_app.command("retry")
def retry(
    kind: Annotated[str, typer.Argument(help="delivery or ticket")],
    ident: Annotated[str, typer.Argument(help="the delivery id or ticket id")],
) -> None:
    """Give a dead letter another chance; the reconciler sends it on its next pass."""
    s = get_settings()
    configure_logging(json=s.log_json)
    if kind not in ("delivery", "ticket"):
        console.print("[red]error:[/red] kind must be delivery or ticket")
        raise typer.Exit(2)
    if not retry_dead(store(s), kind, ident):
        console.print(f"[red]error:[/red] no dead {kind} {ident}")
        raise typer.Exit(1)
    console.print(f"{kind} {ident} will be retried")
