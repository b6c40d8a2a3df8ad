"""`burndown env build / list / prune` on a real Docker engine: the setup reaches PyPI (only),
its result is committed as an image that keeps the toolchain's configuration (not the build
container's proxy), and a second build finds it current."""

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.processes import burndown, child_env

pytestmark = pytest.mark.docker


def test_an_environment_is_built_once_listed_and_pruned(
    tmp_path: Path, python_toolchain_image: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    marker = uuid.uuid4().hex[:8]  # a setup of its own: no other test's environment matches
    (repo / ".burndown.yml").write_text(
        f"toolchain: python\nsetup: ['pip install six==1.16.0  # {marker}']\n"
    )
    env = child_env(
        {
            "BURNDOWN_DATA_DIR": str(tmp_path / "data"),
            "BURNDOWN_SANDBOX_TOOLCHAIN_IMAGE": python_toolchain_image,
            "BURNDOWN_LOG_JSON": "false",
        }
    )
    out = burndown(["env", "build", "--repo", str(repo)], env, timeout=600)
    assert "Successfully installed six-1.16.0" in out and "(built," in out, out
    tag = out.strip().splitlines()[-1].split()[0]
    assert tag.startswith("burndown-env:")
    again = burndown(["env", "build", "--repo", str(repo)], env, timeout=300)
    assert f"{tag} (reused" in again

    probe = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            tag,
            "sh",
            "-c",
            "python3 -c 'import six; print(six.__version__)'; id -u; env",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert probe.startswith("1.16.0\n1000\n") and "/opt/env/venv" in probe
    # the build container's proxy is not kept (set empty: unset for every tool)
    assert "HTTPS_PROXY=\n" in probe and "HTTPS_PROXY=http" not in probe

    assert tag in burndown(["env", "list"], env)
    assert f"removed {tag}" in burndown(["env", "prune", "--older-than", "0"], env)
    assert tag not in burndown(["env", "list"], env)
