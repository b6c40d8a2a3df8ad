"""`burndown prices`: the price table in force (Burndown's defaults, the operator's file, the
`BURNDOWN_PRICES` setting), each price with its source and date."""

import json
from typing import Annotated

import typer

from sandbox.errors import BurndownError
from sandbox.harness.price_file import operator_prices
from worker.settings import get_settings


def prices(
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """The model prices in force, USD per million tokens; a model not listed has no price
    (its cost is unknown, never zero)."""
    s = get_settings()
    try:
        table = operator_prices(s.price_file, s.prices)
    except BurndownError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(table.model_dump(mode="json")["prices"], indent=2, sort_keys=True))
        return
    typer.echo("model\tinput\tcached_input\toutput\tsource\tas_of")
    for name, p in sorted(table.prices.items()):
        cached = p.input if p.cached_input is None else p.cached_input
        when = p.as_of.isoformat() if p.as_of else "-"
        typer.echo(f"{name}\t{p.input:g}\t{cached:g}\t{p.output:g}\t{p.source or '-'}\t{when}")
