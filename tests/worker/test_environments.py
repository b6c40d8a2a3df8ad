"""Environments: the toolchain and setup a repository gets, built once per set of inputs."""

import threading
import time
from pathlib import Path

import pytest

from sandbox.env_image import CREATED_LABEL, KEY_LABEL
from sandbox.fakes import FakeEnvironmentImages
from sandbox.runtime import ContainerSpec, SandboxPolicy
from worker.environments import (
    EnvPlan,
    default_setup,
    detect_toolchain,
    ensure_environment,
    plan_environment,
    prune,
    setup_script,
)
from worker.errors import ConfigError
from worker.repo_config import parse_repo_config

TEMPLATE = "burndown-toolchain-{toolchain}:latest"
PYPI = ("pypi.org", "files.pythonhosted.org")


def reader(files: dict[str, str]):  # type: ignore[no-untyped-def]
    return files.get


@pytest.mark.parametrize(
    ("files", "toolchain"),
    [
        ({"pyproject.toml": ""}, "python"),
        ({"setup.py": ""}, "python"),
        ({"package.json": "{}"}, "node"),
        ({"go.mod": "module x"}, "go"),
        ({"Cargo.toml": ""}, "rust"),
        ({"pyproject.toml": "", "Cargo.toml": ""}, "python"),  # maturin: a Python project
        ({"README.md": ""}, None),
    ],
)
def test_the_toolchain_is_detected_from_the_files(
    files: dict[str, str], toolchain: str | None
) -> None:
    assert detect_toolchain(reader(files)) == toolchain


def test_the_usual_setups() -> None:
    py = {"requirements.txt": "six", "pyproject.toml": ""}
    assert default_setup("python", reader(py)) == [
        "pip install -r requirements.txt",
        "pip install -e .",
    ]
    assert default_setup("node", reader({"package-lock.json": "{}"}))[0].startswith("npm ci &&")
    assert default_setup("go", reader({})) == ["go mod download"]
    assert default_setup("rust", reader({})) == ["cargo fetch"]


def plan(config: str, files: dict[str, str], hosts: tuple[str, ...] = PYPI) -> EnvPlan:
    return plan_environment(
        parse_repo_config(config),
        reader(files),
        default_image="burndown-sandbox:latest",
        toolchain_image=TEMPLATE,
        operator_package_hosts=hosts,
    )


def test_the_plan_follows_burndown_yml_then_detection() -> None:
    detected = plan("", {"setup.py": "x"})
    assert (detected.image, detected.setup, detected.source) == (
        "burndown-toolchain-python:latest",
        ("pip install -e .",),
        "detected: python",
    )
    assert detected.package_hosts == PYPI
    chosen = plan("toolchain: go\nsetup: ['make deps  # fetch']\n", {"setup.py": "x"})
    assert (chosen.image, chosen.setup, chosen.source) == (
        "burndown-toolchain-go:latest",
        ("make deps  # fetch",),
        ".burndown.yml",
    )
    own = plan("image: corp/builder:1\n", {})
    assert own.image == "corp/builder:1" and own.setup == ()
    nothing = plan("", {"README.md": ""})
    assert (nothing.image, nothing.toolchain, nothing.setup) == (
        "burndown-sandbox:latest",
        None,
        (),
    )


def test_the_key_changes_with_every_input_and_only_then() -> None:
    base = plan("", {"setup.py": "x", "requirements.txt": "six==1"})
    assert plan("", {"setup.py": "x", "requirements.txt": "six==1"}).key == base.key
    assert plan("", {"setup.py": "x", "requirements.txt": "six==2"}).key != base.key
    assert plan("", {"setup.py": "y", "requirements.txt": "six==1"}).key != base.key
    assert (
        plan("setup: pip install six\n", {"setup.py": "x", "requirements.txt": "six==1"}).key
        != base.key
    )
    assert plan("", {"setup.py": "x", "requirements.txt": "six==1"}, ("pypi.org",)).key != base.key
    assert base.tag == f"burndown-env:{base.key}"


def test_package_hosts_are_only_those_the_operator_allows() -> None:
    assert plan("package_hosts: [pypi.org]\n", {"setup.py": ""}).package_hosts == ("pypi.org",)
    with pytest.raises(ConfigError, match=r"evil\.example not allowed by the operator"):
        plan("package_hosts: [evil.example]\n", {"setup.py": ""})


def test_a_trailing_comment_does_not_swallow_the_rest_of_the_setup(tmp_path: Path) -> None:
    import subprocess

    script = setup_script(["echo one  # first", "false # fails", "echo never"])
    done = subprocess.run(
        ["sh", "-c", script.replace("cd /workspace", f"cd {tmp_path}")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1 and "one" in done.stdout and "never\n" not in done.stdout


class Setup:
    """What the fake setup does: print, exit with `code`, optionally take `seconds`."""

    def __init__(self, code: int = 0, seconds: float = 0.0) -> None:
        self.code, self.seconds = code, seconds

    def __call__(self, spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
        time.sleep(self.seconds)
        return ["installed"], self.code


def ensure(images: FakeEnvironmentImages, env: EnvPlan, tmp_path: Path, ttl: float = 3600.0):  # type: ignore[no-untyped-def]
    return ensure_environment(
        images,
        env,
        tmp_path,
        policy=SandboxPolicy(allow_hosts=("api.anthropic.com",)),
        user="1000:1000",
        labels={"org.burndown.run-id": "1"},
        ttl_seconds=ttl,
        lock_dir=tmp_path / "locks",
    )


def test_the_setup_runs_once_and_then_the_image_is_reused(tmp_path: Path) -> None:
    images = FakeEnvironmentImages(Setup())
    env = plan("", {"setup.py": "x"})
    first = ensure(images, env, tmp_path)
    assert (first.image, first.ready, first.built) == (env.tag, True, True)
    (spec,) = images.builds
    # the setup reaches the package hosts only, never the model endpoint
    assert spec.policy.allow_hosts == PYPI and spec.image == "burndown-toolchain-python:latest"
    assert "pip install -e ." in spec.command[-1] and spec.mounts[0].target == "/workspace"
    assert images.images[env.tag].labels[KEY_LABEL] == env.key
    again = ensure(images, env, tmp_path)
    assert (again.image, again.ready, again.built, len(images.builds)) == (env.tag, True, False, 1)


def test_an_old_environment_is_built_again(tmp_path: Path) -> None:
    images = FakeEnvironmentImages(Setup())
    env = plan("", {"setup.py": "x"})
    ensure(images, env, tmp_path)
    images.images[env.tag].labels[CREATED_LABEL] = str(int(time.time()) - 7200)
    assert ensure(images, env, tmp_path, ttl=3600).built and len(images.builds) == 2


def test_a_failed_setup_leaves_the_run_on_the_plain_image(tmp_path: Path) -> None:
    images = FakeEnvironmentImages(Setup(code=3))
    env = plan("", {"setup.py": "x"})
    out = ensure(images, env, tmp_path)
    assert (out.image, out.ready, out.detail) == (
        env.image,
        False,
        "the setup failed (exit code 3)",
    )
    assert images.images == {}


def test_two_runs_needing_one_environment_build_it_once(tmp_path: Path) -> None:
    images = FakeEnvironmentImages(Setup(seconds=0.5))
    env = plan("", {"setup.py": "x"})
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure(images, env, tmp_path)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(images.builds) == 1 and len(results) == 3
    assert sorted(r.built for r in results) == [False, False, True]
    assert {r.image for r in results} == {env.tag}


def test_prune_removes_what_is_past_its_time(tmp_path: Path) -> None:
    images = FakeEnvironmentImages(Setup())
    old, new = plan("", {"setup.py": "old"}), plan("", {"setup.py": "new"})
    ensure(images, old, tmp_path)
    ensure(images, new, tmp_path)
    images.images[old.tag].labels[CREATED_LABEL] = "0"
    assert prune(images, 3600) == [old.tag]
    assert list(images.images) == [new.tag]
    assert prune(images, 3600, everything=True) == [new.tag]
