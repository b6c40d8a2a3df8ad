"""The Python toolchain image in a real sandbox: through the egress proxy and the host's
TLS-inspecting proxy, pip installs a pinned package from PyPI (the image trusts the extra CA);
a host not allowed is refused; the harness CLIs still run in it."""

from pathlib import Path

import pytest

from tests.support.processes import sandbox_env, sandbox_run

pytestmark = pytest.mark.docker

PYPI = ["--allow", "pypi.org", "--allow", "files.pythonhosted.org"]


@pytest.fixture
def env(tmp_path: Path, python_toolchain_image: str) -> dict[str, str]:
    return sandbox_env(
        tmp_path,
        python_toolchain_image,
        "http://scripted.invalid",
        BURNDOWN_SANDBOX_REPO_ALLOW_HOSTS="pypi.org,files.pythonhosted.org",
    )


def test_pip_installs_from_pypi_through_the_proxy_with_the_extra_ca(
    env: dict[str, str], run_id: str
) -> None:
    cmd = "pip install --no-cache-dir --target /tmp/site six==1.16.0 && ls /tmp/site"
    ran = sandbox_run([*PYPI, "--", "sh", "-c", cmd], env, run_id=run_id, timeout=300)
    assert ran.code == 0, ran.out + ran.err
    assert "Successfully installed six-1.16.0" in ran.out and "six.py" in ran.out
    assert "self-signed certificate" not in ran.out + ran.err


def test_a_host_not_allowed_is_refused(env: dict[str, str], run_id: str) -> None:
    probe = (
        "import urllib.request\n"
        "try:\n"
        "    urllib.request.urlopen('https://static.crates.io/', timeout=20)\n"
        "    print('reached')\n"
        "except Exception as exc:\n"
        "    print('refused:', exc)\n"
    )
    ran = sandbox_run([*PYPI, "--", "python3", "-c", probe], env, run_id=run_id, timeout=120)
    assert ran.code == 0 and "refused:" in ran.out and "reached" not in ran.out
    assert "static.crates.io" in ran.err  # listed among the refused connections


def test_the_harness_clis_and_the_toolchain_run_in_it(env: dict[str, str], run_id: str) -> None:
    cmd = (
        "claude --version && mini --help >/dev/null && python3 -m pytest --version && pip --version"
    )
    ran = sandbox_run(["--", "sh", "-c", cmd], env, run_id=run_id, timeout=120)
    assert ran.code == 0, ran.out + ran.err
    assert "Claude Code" in ran.out and "/opt/env/venv" in ran.out
