"""`burndown doctor`: check every connection and say how to fix what is missing."""

import typer
from rich.console import Console

from scheduler.cli.doctor_checks import run_checks
from worker.logs import configure_logging
from worker.settings import Settings, get_settings

console = Console()


def warn_unconfigured(settings: Settings) -> None:
    """At start-up: name what is missing (with its fix) instead of running silently."""
    failed = [c for c in run_checks(settings) if not c.ok]
    for c in failed:
        console.print(f"[yellow]not ready:[/yellow] {c.name}: {c.detail}", highlight=False)
        if c.fix:
            console.print(f"           fix: {c.fix}", highlight=False)
    if failed:
        console.print("run `burndown doctor` again once fixed")


def doctor() -> None:
    """Check GitHub, intake (webhook or polling), store, broker, Docker, image and model."""
    s = get_settings()
    configure_logging(json=s.log_json)
    checks = run_checks(s)
    for c in checks:
        mark = "[green]ok[/green]  " if c.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {c.name:<8} {c.detail}", highlight=False)
        if not c.ok and c.fix:
            console.print(f"         fix: {c.fix}", highlight=False)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        console.print(f"\n{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
        raise typer.Exit(1)
    console.print(f"\nall {len(checks)} checks passed")
