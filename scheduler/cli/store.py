"""`burndown db`: the store."""

from typing import TYPE_CHECKING

from scheduler.cli.app import console, db_app, redact, settings

if TYPE_CHECKING:
    pass


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store to the latest schema."""
    from worker.store.migrate import upgrade

    s = settings()
    upgrade(s.resolved_database_url())
    console.print(f"store at {redact(s.resolved_database_url())} is up to date")
