"""`burndown sandbox build` and `sandbox run`: the image and the policy."""

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sandbox.errors import BurndownError
from scheduler.cli.app import console, sandbox_app, settings

if TYPE_CHECKING:
    pass


@sandbox_app.command("build")
def sandbox_build(
    check: Annotated[bool, typer.Option("--check", help="Only report; build nothing.")] = False,
    control_plane: Annotated[
        bool,
        typer.Option("--control-plane", help="Build the control-plane image (API, workers)."),
    ] = False,
    toolchain: Annotated[
        list[str] | None,
        typer.Option(
            "--toolchain",
            help="Also build this toolchain's image (python, node, go, rust; or all).",
        ),
    ] = None,
) -> None:
    """Build the sandbox image (or the control-plane image) offline; a new tag only when an
    input changes."""
    from functools import partial

    from sandbox.docker_client import docker_client
    from sandbox.images import (
        BuildInputs,
        build_control_plane_image,
        build_sandbox_image,
        check_sandbox_image,
    )
    from sandbox.images.inputs import default_project_root
    from sandbox.images.toolchains import build_toolchain_image
    from scheduler.cli.toolchains import show_toolchains, toolchain_list, trusted_cas

    s = settings()
    progress = partial(console.print, highlight=False)
    try:
        client = docker_client(600)
        inputs = BuildInputs()
        if check:
            st = check_sandbox_image(client, inputs)
            console.print(f"image: {st.tag or 'none'}  current: {'yes' if st.current else 'no'}")
            if st.image_id:
                size = f"{(st.size_bytes or 0) / 1e6:.0f} MB"
                console.print(f"  id {st.image_id[:19]}  created {st.created}  size {size}")
            for name, version in sorted(st.harness_versions.items()):
                console.print(f"  harness {name} {version}")
            for name, version in sorted(st.wheel_versions.items()):
                pinned = inputs.harness_wheels.get(name)
                note = "" if pinned == version else f" (pinned now: {pinned or 'none'})"
                console.print(f"  wheel {name}=={version}{note}")
            if not st.current:
                wanted = st.expected_tag or "a new base image first"
                console.print(f"  the current inputs make {wanted}: run `burndown sandbox build`")
            chains_ok = show_toolchains(client, inputs, s, st.tag, toolchain or [])
            raise typer.Exit(0 if st.current and chains_ok else 1)
        if control_plane:
            root = default_project_root()
            ref = build_control_plane_image(client, root, inputs, log=progress)
        else:
            ref = build_sandbox_image(client, inputs, log=progress)
            for name in toolchain_list(toolchain or []):
                started = time.monotonic()
                chain = build_toolchain_image(client, inputs, name, trusted_cas(s), log=progress)
                took = f"{time.monotonic() - started:.0f} s"
                console.print(f"{chain.tag} ({'built' if chain.built else 'current'}, {took})")
    except BurndownError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"{ref.tag} ({'built' if ref.built else 'current'})")


@sandbox_app.command("push-images")
def sandbox_push_images(
    docker_host: Annotated[
        str,
        typer.Option(
            "--docker-host",
            help="The engine to load the images into, e.g. tcp://engine:2376 (TLS from "
            "DOCKER_TLS_VERIFY and DOCKER_CERT_PATH) or ssh://user@engine.",
        ),
    ],
    source: Annotated[
        str, typer.Option(help="The engine that has the images (where they were built).")
    ] = "unix:///var/run/docker.sock",
    image: Annotated[
        list[str] | None,
        typer.Option("--image", help="An image to send (repeatable); default: the sandbox image."),
    ] = None,
) -> None:
    """Copy images to a remote Docker engine through the API (`docker save | docker load`,
    streamed); one the engine holds already with the same id is skipped."""
    import os
    from functools import partial

    from sandbox.docker_client import docker_client
    from sandbox.images.transfer import push_image

    s = settings()
    progress = partial(console.print, highlight=False)
    try:
        src = docker_client(600, environment={"DOCKER_HOST": source})
        # Loading a large image takes the engine a while before it answers.
        dst = docker_client(1800, environment={**os.environ, "DOCKER_HOST": docker_host})
        for ref in image or [s.sandbox_image]:
            push_image(src, dst, ref, log=progress)
    except BurndownError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@sandbox_app.command("run")
def sandbox_run(
    command: Annotated[list[str], typer.Argument(help="The command to run, after `--`.")],
    repo: Annotated[
        Path | None,
        typer.Option(help="Folder mounted as /workspace; its .burndown.yml applies."),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Also allow HOST, as a repository's allow_hosts would."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Lower the wall-clock limit (seconds).")
    ] = None,
    idle_timeout: Annotated[
        float | None, typer.Option(help="Lower the idle-output limit (seconds).")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Run id for the labels (default: cli-<random>).")
    ] = None,
    image: Annotated[
        str | None, typer.Option(help="Run in this image (e.g. a toolchain's) instead.")
    ] = None,
) -> None:
    """Run a command in a sandbox under exactly the policy a harness gets. Exits with the
    command's code; 124 wall-clock limit, 123 idle limit, 122 memory limit, 125 sandbox error."""
    from scheduler.cli.sandbox_run import run_in_sandbox

    code = run_in_sandbox(
        settings(),
        command,
        repo=repo,
        allow=allow or [],
        timeout=timeout,
        idle_timeout=idle_timeout,
        run_id=run_id,
        image=image,
    )
    raise typer.Exit(code)


_REF = re.compile(r"^(?:https?://[^/]+/)?([\w.-]+/[\w.-]+)(?:#|/issues/)(\d+)/?$")
