"""The sandbox image, built for real against the Docker engine: no fakes, no skips.

The first run makes the Debian root filesystem with debootstrap and downloads the Claude Code wheel
(a minute or two); the caches under ~/.cache/burndown and the content-addressed tags make re-runs
take about a second. Without a Docker engine these tests fail (ImageError), they do not skip.
"""

from __future__ import annotations

import re
from pathlib import Path

import docker
import pytest

from sandbox.docker_client import docker_client
from sandbox.errors import ImageError
from sandbox.images.inputs import (
    HARNESS_LABEL_PREFIX,
    LABEL_KIND,
    SANDBOX_REPOSITORY,
    BuildInputs,
    ImageRef,
)
from sandbox.images.rootfs import build_base_rootfs, find_debian_mirror, read_apt_sources
from sandbox.images.sandbox_image import build_sandbox_image, check_sandbox_image
from sandbox.images.wheels import requirements_to_download

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker_client(600, error=ImageError)


@pytest.fixture(scope="module")
def inputs() -> BuildInputs:
    return BuildInputs()


@pytest.fixture(scope="module")
def built(client: docker.DockerClient, inputs: BuildInputs) -> ImageRef:
    return build_sandbox_image(client, inputs)


def _run(client: docker.DockerClient, image: str, argv: list[str], user: str | None = None) -> str:
    out = client.containers.run(
        image, argv, user=user, remove=True, network_disabled=True, stdout=True, stderr=True
    )
    assert isinstance(out, bytes)
    return out.decode()


def _sandbox_tags(client: docker.DockerClient) -> set[str]:
    return {tag for image in client.images.list(name=SANDBOX_REPOSITORY) for tag in image.tags}


def test_build_tags_the_image_by_content(client: docker.DockerClient, built: ImageRef) -> None:
    repository, digest = built.tag.split(":", 1)
    assert repository == SANDBOX_REPOSITORY
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    assert built.labels[LABEL_KIND] == "sandbox"
    assert client.images.get(f"{SANDBOX_REPOSITORY}:latest").id == built.image_id
    assert built.size_bytes > 0


def test_second_build_with_same_inputs_makes_no_new_tag(
    client: docker.DockerClient, inputs: BuildInputs, built: ImageRef
) -> None:
    before = _sandbox_tags(client)
    again = build_sandbox_image(client, inputs)
    assert again.built is False
    assert again.tag == built.tag
    assert again.image_id == built.image_id
    assert _sandbox_tags(client) == before


def test_check_reports_current_image_and_claude_version(
    client: docker.DockerClient, inputs: BuildInputs, built: ImageRef
) -> None:
    status = check_sandbox_image(client, inputs)
    assert status.current is True
    assert status.expected_tag == built.tag
    assert status.tag == built.tag
    assert status.image_id == built.image_id
    assert status.wheel_versions == {
        "claude-agent-sdk": "0.2.187",
        "openai-codex-cli-bin": "0.163.0",
    }
    version = status.harness_versions["claude-code"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert built.labels[HARNESS_LABEL_PREFIX + "claude-code"] == version
    # The label is what the binary in the image says of itself.
    assert _run(client, built.tag, ["claude", "--version"]).split()[0] == version


def test_every_harness_is_in_the_image_with_its_version(
    client: docker.DockerClient, inputs: BuildInputs, built: ImageRef
) -> None:
    versions = check_sandbox_image(client, inputs).harness_versions
    assert versions["mini-swe-agent"] == "2.4.6" and versions["aider"] == "0.86.2"
    assert _run(client, built.tag, ["codex", "--version"]).split()[-1] == versions["codex"]
    script = "import aider; print(aider.__version__)"
    out = _run(client, built.tag, ["/opt/aider/bin/python", "-c", script])
    assert out.strip() == versions["aider"]
    out = _run(client, built.tag, ["sh", "-c", "command -v mini; command -v aider"], user="1000")
    assert out.split() == ["/opt/bin/mini", "/opt/bin/aider"]


def test_check_with_other_inputs_is_not_current(
    client: docker.DockerClient, inputs: BuildInputs, built: ImageRef
) -> None:
    other = inputs.model_copy(update={"harness_wheels": {"claude-agent-sdk": "0.0.1"}})
    status = check_sandbox_image(client, other)
    assert status.current is False
    assert status.expected_tag is not None and status.expected_tag != built.tag
    assert status.tag == f"{SANDBOX_REPOSITORY}:latest"  # what is there instead
    assert status.image_id == built.image_id


def test_claude_runs_as_uid_1000(client: docker.DockerClient, built: ImageRef) -> None:
    out = _run(client, built.tag, ["claude", "--version"], user="1000")
    assert "Claude Code" in out


def test_git_and_python_are_present(client: docker.DockerClient, built: ImageRef) -> None:
    assert _run(client, built.tag, ["git", "--version"]).startswith("git version 2.")
    assert _run(client, built.tag, ["python3", "--version"]).startswith("Python 3.11")


def test_default_user_is_agent_not_root(client: docker.DockerClient, built: ImageRef) -> None:
    image = client.images.get(built.tag)
    assert image.attrs["Config"]["User"] not in ("", "0", "root")
    assert image.attrs["Config"]["WorkingDir"] == "/workspace"
    out = _run(client, built.tag, ["sh", "-c", 'id -u; id -un; echo "$HOME"; pwd'])
    assert out.split() == ["1000", "agent", "/home/agent", "/workspace"]


def test_unknown_harness_wheel_is_an_image_error(
    client: docker.DockerClient, inputs: BuildInputs
) -> None:
    with pytest.raises(ImageError, match="unknown harness wheel"):
        build_sandbox_image(client, inputs.model_copy(update={"harness_wheels": {"nope": "1"}}))


def test_making_the_rootfs_needs_root(
    inputs: BuildInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sandbox.images.rootfs.os.geteuid", lambda: 1000)
    with pytest.raises(ImageError, match="needs root"):
        build_base_rootfs(inputs.model_copy(update={"cache_dir": tmp_path}))


def test_mirror_is_read_from_apt_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [signed-by=/k.gpg] http://mirror.invalid/debian trixie main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n"
        "Components: main\n"
    )
    (tmp_path / "sources.list.d" / "other.list.disabled").write_text(
        "deb http://elsewhere.invalid/ bookworm main\n"
    )
    assert len(read_apt_sources(tmp_path)) == 3
    found = find_debian_mirror("bookworm", tmp_path)
    assert found.uri == "http://mirror.invalid/debian"
    assert found.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert find_debian_mirror("trixie", tmp_path).signed_by == "/k.gpg"
    with pytest.raises(ImageError, match="no apt source"):
        find_debian_mirror("sid", tmp_path)


def test_download_list_keeps_linux_pins_for_any_patch_release(inputs: BuildInputs) -> None:
    exported = (
        "alembic==1.20.1\n"
        "async-timeout==5.0.1 ; python_full_version < '3.11.3'\n"
        "colorama==0.4.6 ; sys_platform == 'win32'\n"
        "celery[redis]==5.7.0\n"
        "-e .\n"
    )
    assert requirements_to_download(exported, inputs) == [
        "alembic==1.20.1",
        "async-timeout==5.0.1",
        "celery[redis]==5.7.0",
    ]
