"""`burndown report`: the metrics for a period, in every format."""

import sys
from enum import StrEnum
from typing import Annotated

import typer

from scheduler.cli.app import app, console, settings


class Format(StrEnum):
    """The report's output formats."""

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

    from scheduler.report.fromstore import store_report
    from scheduler.report.render import report_csv, report_json, report_tables
    from scheduler.report.report import BadQuery, ReportQuery
    from scheduler.web.budgets import budget_lines, budgets_json
    from scheduler.web.pages import overview
    from worker.store.db import make_engine
    from worker.store.migrate import upgrade
    from worker.wiring import budgets

    try:
        query = ReportQuery.parse(since, until, repo, harness, runs)
    except BadQuery as exc:
        raise typer.BadParameter(str(exc)) from None
    s = settings()
    upgrade(s.resolved_database_url())
    engine = make_engine(s.resolved_database_url())
    r = store_report(engine, query)
    if format == Format.JSON:
        data = {**report_json(r), "budgets": budgets_json(engine, budgets(s))}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif format == Format.CSV:
        sys.stdout.write(report_csv(r))
    elif format == Format.HTML:
        sys.stdout.write(overview(r, standalone=True) + "\n")
    else:
        console.print(report_tables(r))
        console.print("\n".join(budget_lines(engine, budgets(s))))
