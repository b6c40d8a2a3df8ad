"""End-to-end fixtures: the stand-in GitHub, the scripted model, real Redis and PostgreSQL,
and the sandbox image, all on this machine."""

from collections.abc import Iterator

import pytest

from tests.conftest import require_env
from tests.support.docker_net import bridge_gateway
from tests.support.github_standin import GitHubStandIn
from tests.support.model_server import ScriptedModel


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as gh:
        yield gh


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    """The scripted model, listening on the Docker bridge gateway so sandboxes reach it."""
    with ScriptedModel(host=bridge_gateway()) as m:
        yield m


@pytest.fixture
def redis_url() -> str:
    return require_env("BURNDOWN_TEST_REDIS_URL")
