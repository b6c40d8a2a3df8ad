"""`burndown run` (one ticket in the foreground) and `burndown sync`."""

import re
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from sandbox.errors import BurndownError
from sandbox.harness.events import EventKind, HarnessEvent
from scheduler.cli.app import app, console, settings
from worker.settings import Settings
from worker.store.models import OutcomeKind

if TYPE_CHECKING:
    from worker.pipeline import PipelineDeps


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
    from sandbox.harness.registry import get_harness
    from worker.store.migrate import upgrade
    from worker.wiring import pipeline_deps

    s = settings()
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
def sync() -> None:
    """Ask GitHub once what became of the agent's pull requests and issues (what `beat` does
    every BURNDOWN_LIFECYCLE_SYNC_INTERVAL_SECONDS)."""
    from scheduler.jobs import run_lifecycle_sync
    from worker.store.migrate import upgrade

    s = settings()
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
