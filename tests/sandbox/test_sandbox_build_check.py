"""`burndown sandbox build --check` through the CLI: what the current image holds."""

import re
from pathlib import Path

import pytest

from sandbox.images import DEFAULT_HARNESS_WHEELS
from tests.support.processes import burndown, child_env

pytestmark = pytest.mark.docker


def test_check_reports_the_current_image_its_harnesses_and_pins(
    sandbox_image: str, tmp_path: Path
) -> None:
    out = burndown(["sandbox", "build", "--check"], child_env({"BURNDOWN_DATA_DIR": str(tmp_path)}))
    assert f"image: {sandbox_image}  current: yes" in out
    assert re.search(r"harness claude-code \d+\.\d+\.\d+", out)
    for name, version in DEFAULT_HARNESS_WHEELS.items():
        assert f"wheel {name}=={version}\n" in out  # built from the pinned version
    assert re.search(r"id sha256:[0-9a-f]{12} .* size \d+ MB", out)
