"""Docker clients and Docker's errors in one place, and cleanup that never hides the first error.

Unit tests: the fake runtime removes its container through the same `removing` as the Docker
runtime; failures are docker-py's own exception classes (the vendor SDK), raised where the engine
would raise them.
"""

from pathlib import Path
from typing import NoReturn

import pytest
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from sandbox.docker_client import (
    best_effort,
    docker_client,
    remove_resource,
    removing,
    translate_docker_errors,
)
from sandbox.errors import HarnessError, ImageError, SandboxError, SandboxUnavailable
from sandbox.fakes import FakeRuntime
from sandbox.runtime import ContainerSpec

SPEC = ContainerSpec(image="img", command=["true"])


def _lines(_spec: ContainerSpec, _ws: Path | None) -> tuple[list[str], int]:
    return ["one", "two"], 0


def _crash(_line: str) -> None:
    raise HarnessError("the sink could not store a line")


def test_the_first_error_survives_a_failing_cleanup() -> None:
    runtime = FakeRuntime(_lines, remove_error=APIError("container is paused"))
    with pytest.raises(HarnessError, match="could not store") as caught:
        runtime.run(SPEC, _crash)
    (note,) = caught.value.__notes__
    assert "cannot remove fake container 1" in note and "container is paused" in note
    assert runtime.removed == 0


def test_a_failing_cleanup_after_success_is_a_sandbox_error() -> None:
    runtime = FakeRuntime(_lines, remove_error=APIError("device or resource busy"))
    seen: list[str] = []
    with pytest.raises(SandboxError, match="cannot remove fake container 1") as caught:
        runtime.run(SPEC, seen.append)
    assert isinstance(caught.value.__cause__, APIError)
    assert seen == ["one", "two"]


def test_a_container_gone_already_is_removed() -> None:
    runtime = FakeRuntime(_lines, remove_error=NotFound("no such container"))
    with pytest.raises(HarnessError) as caught:
        runtime.run(SPEC, _crash)
    assert getattr(caught.value, "__notes__", []) == []
    assert runtime.run(SPEC, lambda _line: None).exit_code == 0


def test_the_fake_removes_its_container_after_every_run() -> None:
    runtime = FakeRuntime(_lines)
    runtime.run(SPEC, lambda _line: None)
    with pytest.raises(HarnessError):
        runtime.run(SPEC, _crash)
    assert runtime.removed == 2


def test_removing_runs_the_cleanup_once_and_keeps_the_body_error() -> None:
    calls: list[str] = []

    def remove() -> None:
        calls.append("remove")
        raise DockerException("engine went away")

    with pytest.raises(KeyError) as caught, removing(remove, "network n1"):
        raise KeyError("body")
    assert calls == ["remove"]
    assert "network n1" in caught.value.__notes__[0]


def test_remove_resource_says_whether_it_removed() -> None:
    def gone() -> None:
        raise NotFound("no such network")

    assert remove_resource(lambda: None, "n1") is True
    assert remove_resource(gone, "n1") is False
    with pytest.raises(ImageError, match="cannot remove t1: conflict"):
        remove_resource(lambda: _raise(APIError("conflict")), "t1", error=ImageError)


def _raise(exc: Exception) -> NoReturn:
    raise exc


@pytest.mark.parametrize(
    "foreign",
    [APIError("500 Server Error"), requests.ConnectionError("refused"), TimeoutError("read")],
)
def test_docker_and_transport_errors_become_sandbox_errors(foreign: Exception) -> None:
    with (
        pytest.raises(SandboxError, match="cannot start the sandbox: ") as caught,
        translate_docker_errors("cannot start the sandbox"),
    ):
        raise foreign
    assert caught.value.__cause__ is foreign


def test_a_missing_image_gets_its_own_message_and_our_errors_pass_through() -> None:
    hint = "sandbox image 'x' is missing: run `burndown sandbox build`"
    with (
        pytest.raises(SandboxError, match="is missing: run"),
        translate_docker_errors("cannot create", image_missing=hint),
    ):
        raise ImageNotFound("No such image: x")
    with (
        pytest.raises(ImageError, match="cannot create: No such image"),
        translate_docker_errors("cannot create", error=ImageError),
    ):
        raise ImageNotFound("No such image: x")
    own = HarnessError("ours")
    with pytest.raises(HarnessError) as caught, translate_docker_errors("cannot create"):
        raise own
    assert caught.value is own


def test_best_effort_ignores_docker_failures_only() -> None:
    assert best_effort(lambda: _raise(NotFound("gone")), "kill", "default") == "default"
    assert best_effort(lambda: "done", "kill", "default") == "done"
    with pytest.raises(ValueError):
        best_effort(lambda: _raise(ValueError("a bug")), "kill", None)


def test_an_unreachable_engine_is_a_sandbox_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    with pytest.raises(ImageError, match="cannot reach the Docker engine"):
        docker_client(5, error=ImageError)
    with pytest.raises(SandboxError, match="cannot reach the Docker engine"):
        docker_client(5)


def _answer(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    return response


@pytest.mark.parametrize(
    ("foreign", "unavailable"),
    [
        (APIError("boom", response=_answer(500)), True),
        (APIError("busy", response=_answer(503)), True),
        (requests.ConnectionError("refused"), True),
        (requests.ReadTimeout("slow"), True),
        (DockerException("Error while fetching server API version"), True),
        (APIError("conflict", response=_answer(409)), False),
        (NotFound("no such container"), False),
        (APIError("bad request", response=_answer(400)), False),
    ],
)
def test_docker_failing_on_its_side_is_told_apart_from_a_refusal(
    foreign: Exception, unavailable: bool
) -> None:
    with pytest.raises(SandboxError) as caught, translate_docker_errors("cannot start"):
        raise foreign
    assert isinstance(caught.value, SandboxUnavailable) is unavailable
    assert caught.value.__cause__ is foreign


def test_a_named_error_class_is_kept_even_when_docker_is_away() -> None:
    with pytest.raises(ImageError) as caught, translate_docker_errors("build", error=ImageError):
        raise requests.ConnectionError("refused")
    assert not isinstance(caught.value, SandboxUnavailable)
