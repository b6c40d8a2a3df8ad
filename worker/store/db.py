"""Engine and sessions; every foreign database error is translated to `StoreError` here."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, create_engine

from worker.errors import DuplicateError, StoreError

# How each driver names a unique (or primary key) violation.
_PG_UNIQUE = "23505"
_SQLITE_UNIQUE = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL and a busy timeout so several processes can share it."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on error; a unique constraint hit is a
    `DuplicateError`, any other database error a `StoreError`."""
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise DuplicateError(f"already stored: {exc.orig}") from exc
        raise StoreError(f"store error: {exc.__class__.__name__}: {exc}") from exc
    except SQLAlchemyError as exc:
        raise StoreError(f"store error: {exc.__class__.__name__}: {exc}") from exc


def is_unique_violation(exc: IntegrityError) -> bool:
    """True when `exc` is a unique or primary key violation (not a foreign key or not-null one)."""
    orig = exc.orig
    return (
        getattr(orig, "sqlstate", None) == _PG_UNIQUE
        or getattr(orig, "sqlite_errorname", None) in _SQLITE_UNIQUE
    )
