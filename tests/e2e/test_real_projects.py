"""Real projects through the real pipeline: repositories made from the PyPI source
distributions of six, toolz and more-itertools (their own test suites), the scripted harness in
the Python toolchain image, an environment built once per project (`pip install -e .` from
PyPI, through the egress proxy and the TLS-inspecting proxy), verification with pytest in
sandboxes started from it, and PyGithub and git against the GitHub stand-in."""

import json
from pathlib import Path

import docker
import pytest

from sandbox.env_image import DockerEnvironmentImages
from sandbox.harness.scripted import SCRIPT_ENV, Run, Say, Script
from tests.e2e.conftest import World
from tests.support.sdists import PROJECTS, project_files
from worker.pipeline import PipelineDeps, run_ticket
from worker.settings import Settings
from worker.store.migrate import upgrade
from worker.store.models import OutcomeKind
from worker.store.repo import queue_ticket, run_events, upsert_ticket
from worker.wiring import pipeline_deps

pytestmark = pytest.mark.docker


def project_repo(w: World, name: str, edits: dict[str, tuple[str, str]]) -> str:
    """`acme/<name>` on the stand-in: the sdist's files, with `edits` (path: old -> new)
    applied on the default branch."""
    files = project_files(name, PROJECTS[name])
    for path, (old, new) in edits.items():
        assert old in files[path], (path, old)
        files[path] = files[path].replace(old, new, 1)
    repo = f"acme/{name}"
    w.github.add_repo(repo, files)
    w.github.set_permission(repo, "maria", "maintain")
    w.github.set_permission(repo, "burndown-bot", "write")
    return repo


def deps(
    w: World, tmp_path: Path, toolchain: str, script: Script, *, ttl: float = 3600.0
) -> PipelineDeps:
    """The pipeline's parts; an environment older than `ttl` seconds is built again."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    s = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        github_api_url=w.env["BURNDOWN_GITHUB_API_URL"],
        github_token=w.env["BURNDOWN_GITHUB_TOKEN"],
        sandbox_image=w.env["BURNDOWN_SANDBOX_IMAGE"],
        sandbox_toolchain_image=toolchain,
        harness="scripted",
        harness_env={SCRIPT_ENV: script.model_dump_json()},
        run_timeout_seconds=1200,
        environment_ttl_seconds=ttl,
    )
    return pipeline_deps(s)


def run(w: World, d: PipelineDeps, repo: str, title: str) -> tuple[OutcomeKind, str, int]:
    number = w.github.create_issue(repo, title, "See the title.", "maria", ["burndown"])
    t = upsert_ticket(
        d.engine, repo, number, title=title, body="See the title.", url="u", labeled_by="maria"
    )
    assert t.id is not None and queue_ticket(d.engine, t.id)
    outcome = run_ticket(t.id, d)
    assert outcome is not None
    return OutcomeKind(outcome.kind), outcome.detail, outcome.run_id


def environment_stage(d: PipelineDeps, run_id: int) -> dict[str, object]:
    for e in run_events(d.engine, run_id):
        data = json.loads(e.data)
        if data.get("stage") == "environment":
            return dict(data)
    raise AssertionError("no environment stage")


def test_a_fix_turns_a_failing_test_into_a_ready_pull_request_with_counts(
    world: World, python_toolchain_image: str, tmp_path: Path
) -> None:
    # second() returns the first element (a bug that fails a test and hangs none)
    bug = ("    next(seq)\n    return next(seq)\n", "    return next(seq)  # skips nothing\n")
    repo = project_repo(world, "toolz", {"toolz/itertoolz.py": bug})
    fix = Script(
        actions=[
            Run(
                command="sed -i 's/^    return next(seq)  # skips nothing$/"
                "    next(seq)\\n    return next(seq)/' toolz/itertoolz.py"
            ),
            Say(text="second() skips the first element again."),
        ]
    )
    # a fresh environment, whatever an earlier test run left (a tiny time to live)
    d = deps(world, tmp_path, python_toolchain_image, fix, ttl=0.001)
    kind, detail, run_id = run(world, d, repo, "second() returns the first element")
    assert kind == OutcomeKind.PR_OPENED, detail
    (pr,) = world.github.pulls(repo)
    body = pr["body"]
    assert pr["draft"] is False and "Verified: all tests pass" in body, body
    assert "detected: pytest" in body and "Tests on the change: " in body
    head_counts = body.split("Tests on the change: ")[1].split(".")[0]
    assert "passed" in head_counts and "failed" not in head_counts
    base_counts = body.split("Tests on the base commit: ")[1].split(".")[0]
    assert "failed" in base_counts  # the bug's failing test, fixed by the change
    stage = environment_stage(d, run_id)
    assert stage["built"] is True and stage["ready"] is True, json.dumps(stage)
    assert str(stage["image"]).startswith("burndown-env:")

    # A second ticket on the same project starts from the kept environment: no setup again.
    d = deps(world, tmp_path, python_toolchain_image, fix)
    kind, _, again = run(world, d, repo, "second() still needs a look")
    assert environment_stage(d, again)["built"] is False
    assert environment_stage(d, again)["image"] == stage["image"]
    DockerEnvironmentImages().remove(str(stage["image"]))


def test_a_change_that_breaks_a_test_is_a_draft_naming_it(
    world: World, python_toolchain_image: str, tmp_path: Path
) -> None:
    repo = project_repo(world, "six", {})
    breaks = Script(
        actions=[
            Run(command='sed -i \'s/return s.encode("latin-1")/return s.encode("utf-8")/\' six.py'),
            Say(text="b() encodes in UTF-8 now."),
        ]
    )
    d = deps(world, tmp_path, python_toolchain_image, breaks)
    kind, detail, run_id = run(world, d, repo, "b() should use UTF-8")
    assert kind == OutcomeKind.PR_DRAFT, detail
    (pr,) = world.github.pulls(repo)
    assert pr["draft"] is True and "Newly failing: `test_six.py::test_b`" in pr["body"], pr["body"]
    assert "Tests on the base commit: " in pr["body"]
    DockerEnvironmentImages().remove(str(environment_stage(d, run_id)["image"]))
    # six has no setup: the run started from the toolchain image itself, which must survive.
    assert docker.from_env(timeout=30).images.get(python_toolchain_image)


def test_pre_existing_failures_are_reported_not_blamed(
    world: World, python_toolchain_image: str, tmp_path: Path
) -> None:
    bug = (
        "return sum(compress(repeat(1), zip(iterable)))\n",
        "return sum(compress(repeat(1), zip(iterable))) + 1\n",
    )
    repo = project_repo(world, "more-itertools", {"more_itertools/more.py": bug})
    docs = Script(
        actions=[
            Run(command="printf '\\nSee the documentation.\\n' >> README.rst"),
            Say(text="Pointed the README at the documentation."),
        ]
    )
    d = deps(world, tmp_path, python_toolchain_image, docs)
    kind, detail, run_id = run(world, d, repo, "Point the README at the docs")
    assert kind == OutcomeKind.PR_OPENED, detail
    (pr,) = world.github.pulls(repo)
    body = pr["body"]
    assert pr["draft"] is False and "no test fails that did not fail before" in body, body
    assert "tests/test_more.py::IlenTests::test_ilen" in body.split("pre-existing")[1]
    assert "Newly failing" not in body
    DockerEnvironmentImages().remove(str(environment_stage(d, run_id)["image"]))
