"""The environment step of a run: the agent and both verification sandboxes start from the
environment's image, and the setup runs once for all of them (and for the next run)."""

import json
from pathlib import Path

from sqlalchemy import Engine

from sandbox.env_image import EnvImage
from sandbox.fakes import FakeEnvironmentImages, FakeRuntime
from sandbox.runtime import ContainerSpec
from tests.worker.test_pipeline import Scene, World, make_world
from worker.pipeline import PipelineConfig, PipelineDeps, run_ticket
from worker.store.models import OutcomeKind
from worker.store.repo import run_events

FILES = {
    "hello.py": "print('helo')\n",
    "setup.py": "from setuptools import setup\nsetup(name='hello')\n",
    ".burndown.yml": "test: ['python3 -m pytest -q  # the suite']\n",
}
TOOLCHAIN = "burndown-toolchain-python:latest"


def _setup(spec: ContainerSpec, ws: Path | None) -> tuple[list[str], int]:
    assert ws is not None and (ws / "setup.py").is_file()  # the base commit's files
    return ["Successfully installed hello"], 0


def _run(w: World, images: FakeEnvironmentImages, scene: Scene, number: int = 3):  # type: ignore[no-untyped-def]
    runtime = FakeRuntime(scene)
    config = PipelineConfig(image="img", harness="claude-code", work_dir=w.tmp / "data")
    deps = PipelineDeps(
        engine=w.engine,
        github=w.gh,
        runtime=runtime,
        git_token="tok",
        config=config,
        environments=images,
    )
    return run_ticket(w.ticket(number), deps), runtime


def _images() -> FakeEnvironmentImages:
    images = FakeEnvironmentImages(_setup)
    images.images[TOOLCHAIN] = EnvImage(tag=TOOLCHAIN, image_id="sha256:python")
    return images


def test_the_agent_and_verification_start_from_the_environment(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    w = make_world(tmp_path, sqlite_engine, FILES)
    images = _images()
    outcome, runtime = _run(w, images, Scene(tests=lambda tree: (["3 passed in 0.1s"], 0)))
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED, outcome
    (build,) = images.builds
    assert build.image == TOOLCHAIN and "pip install -e ." in build.command[-1]
    assert build.policy.allow_hosts == ("pypi.org", "files.pythonhosted.org")
    env_tag = next(t for t in images.images if t.startswith("burndown-env:"))
    assert [s.image for s in runtime.specs] == [env_tag, env_tag, env_tag]
    # the agent's sandbox gets the model endpoint, not the package hosts
    assert "pypi.org" not in runtime.specs[0].policy.allow_hosts
    verify_script = runtime.specs[1].command[-1]
    assert "pip install" not in verify_script and "# the suite\n)" in verify_script
    ((_, _, body),) = w.gh.pulls
    assert "Tests on the change: 3 passed." in body
    stages = [json.loads(e.data) for e in run_events(w.engine, outcome.run_id)]
    stage = next(d for d in stages if d.get("stage") == "environment")
    assert stage["built"] is True and stage["source"] == "detected: python"

    again, runtime = _run(w, images, Scene(), number=4)
    assert again is not None and len(images.builds) == 1  # reused
    assert runtime.specs[0].image == env_tag


def test_without_the_toolchain_image_the_run_goes_on_as_before(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    w = make_world(tmp_path, sqlite_engine, FILES)
    images = FakeEnvironmentImages(_setup)
    outcome, runtime = _run(w, images, Scene())
    assert outcome is not None and outcome.kind == OutcomeKind.PR_OPENED
    assert images.builds == [] and {s.image for s in runtime.specs} == {"img"}
    kinds = {e.kind for e in run_events(w.engine, outcome.run_id)}
    assert "toolchain_missing" in kinds


def test_a_failed_setup_is_run_again_by_verification(tmp_path: Path, sqlite_engine: Engine) -> None:
    files = {**FILES, ".burndown.yml": "setup: pip install nothing\ntest: sh check.sh\n"}
    w = make_world(tmp_path, sqlite_engine, files)
    images = FakeEnvironmentImages(lambda spec, ws: (["no such package"], 1))
    images.images[TOOLCHAIN] = EnvImage(tag=TOOLCHAIN, image_id="sha256:python")
    outcome, runtime = _run(w, images, Scene())
    assert outcome is not None
    assert [s.image for s in runtime.specs] == [TOOLCHAIN] * 3
    assert "pip install nothing" in runtime.specs[1].command[-1]
