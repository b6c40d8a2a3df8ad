"""Deployment fixtures: the stand-in GitHub and the scripted model on the Docker bridge's
gateway (an address of this machine that containers reach), and a workspace folder owned by the
control-plane image's user."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.github_standin import GitHubStandIn
from tests.support.model_server import ScriptedModel
from tests.support.processes import bridge_gateway

CONTROL_PLANE_UID = 10001


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn(host=bridge_gateway()) as gh:
        yield gh


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel(host=bridge_gateway()) as m:
        yield m


@pytest.fixture
def workspaces() -> Iterator[Path]:
    """A host folder the workers mount at the same path; removed afterwards (it is not under
    pytest's tmp_path, whose parents only root may enter)."""
    path = Path(tempfile.mkdtemp(prefix="burndown-workspaces-", dir="/tmp"))
    os.chown(path, CONTROL_PLANE_UID, CONTROL_PLANE_UID)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
