"""Fixtures of the sandbox tests: the scripted model on the Docker bridge gateway, a
deployment's environment full of secrets, and run ids checked for leftovers afterwards."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.model_server import ScriptedModel
from tests.support.processes import bridge_gateway, leftovers, sandbox_env


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel(host=bridge_gateway()) as m:
        yield m


@pytest.fixture
def env(tmp_path: Path, sandbox_image: str, model: ScriptedModel) -> dict[str, str]:
    return sandbox_env(tmp_path, sandbox_image, model.base_url)


@pytest.fixture
def run_id() -> Iterator[str]:
    """A run id for `burndown sandbox run --run-id`; nothing may carry it after the test."""
    rid = f"test-{uuid.uuid4().hex[:12]}"
    yield rid
    assert leftovers(rid) == [], f"run {rid} left resources behind"
