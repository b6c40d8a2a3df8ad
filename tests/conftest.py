"""Shared fixtures: stores on SQLite and on the real PostgreSQL the test command starts."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from worker.store.db import make_engine
from worker.store.migrate import upgrade

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


def require_env(name: str) -> str:
    """An environment variable the test command sets; a loud failure when it is missing."""
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run the tests through ./scripts/test (it starts the "
            "services and builds the images)",
            pytrace=False,
        )
    return value


def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"the shared fixtures are missing at {FIXTURES}", pytrace=False)
    return FIXTURES


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the test PostgreSQL server, dropped afterwards."""
    base = require_env("BURNDOWN_TEST_POSTGRES_URL")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A migrated store, on SQLite and on PostgreSQL."""
    upgrade(store_url)
    eng = make_engine(store_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    """The sandbox image for the current inputs (the test command builds it; cached here)."""
    from sandbox.docker_client import docker_client
    from sandbox.images import BuildInputs, build_sandbox_image

    return build_sandbox_image(docker_client(600), BuildInputs()).tag


@pytest.fixture(scope="session")
def python_toolchain_image(sandbox_image: str) -> str:
    """The Python toolchain image for the current inputs, trusting the host's extra CAs (the
    test command builds it with `burndown sandbox build --toolchain python`; cached here)."""
    from sandbox.ca_trust import host_extra_cas, read_cas
    from sandbox.docker_client import docker_client
    from sandbox.images import BuildInputs
    from sandbox.images.toolchains import build_toolchain_image

    cas = read_cas(host_extra_cas())
    return build_toolchain_image(docker_client(600), BuildInputs(), "python", cas).tag
