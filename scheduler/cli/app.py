"""The `burndown` Typer app, its sub-apps, the console and the settings every command reads."""

import re
import sys

import typer
from rich.console import Console

from worker.logs import configure_logging
from worker.settings import Settings, get_settings

app = typer.Typer(
    help="Burndown: labelled issues in, verified pull requests out.", no_args_is_help=True
)
db_app = typer.Typer(help="The store.", no_args_is_help=True)
sandbox_app = typer.Typer(help="The sandbox image and policy.", no_args_is_help=True)
# Piped output (scripts, CI) must not be cut to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)


def settings() -> Settings:
    """The settings, with logging configured from them (once per command)."""
    s = get_settings()
    configure_logging(json=s.log_json)
    return s


def redact(url: str) -> str:
    """A URL without its password."""
    return re.sub(r"//[^@/]+@", "//***@", url)
