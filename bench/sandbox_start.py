"""Sandbox start-up: from "start the sandbox" to the first line the command prints, through
Burndown's runtime under the full policy (its own internal network and the egress proxy, limits,
read-only root, the workspace mount) against a bare `docker run` of the same image. Median over
N runs of each, interleaved so that both see the same load, printed side by side as a ratio; the
runtime without a network (nothing allowed) is shown too, to separate the proxy's cost.

    uv run python -m bench.sandbox_start [--runs 20]

Needs the Docker engine and the sandbox image (`burndown sandbox build`).
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sandbox.docker_client import docker_client
from sandbox.docker_runtime import DockerRuntime
from sandbox.images import BuildInputs, build_sandbox_image
from sandbox.runtime import DEPLOYMENT_LABEL, RUN_LABEL, ContainerSpec, Mount, SandboxPolicy

MARK = "sandbox-ready"


def bare_docker_run(image: str) -> float:
    """`docker run --rm IMAGE echo`: seconds until its first line arrives."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        ["docker", "run", "--rm", image, "echo", MARK], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    first = time.monotonic() - t0
    proc.wait(timeout=60)
    assert line.strip() == MARK, line
    return first


def runtime_run(
    runtime: DockerRuntime, image: str, workspace: Path, allow: tuple[str, ...]
) -> float:
    """Our runtime, full policy: seconds until the command's first line reaches `on_line`."""
    policy = SandboxPolicy(timeout_seconds=60, idle_timeout_seconds=30, allow_hosts=allow)
    spec = ContainerSpec(
        image=image,
        command=["echo", MARK],
        mounts=[Mount(source=workspace, target="/workspace")],
        labels={RUN_LABEL: f"bench-{uuid.uuid4().hex[:8]}", DEPLOYMENT_LABEL: "bench"},
        policy=policy,
    )
    first: list[float] = []
    t0 = time.monotonic()

    def on_line(line: str) -> None:
        if not first:
            first.append(time.monotonic() - t0)

    exit_ = runtime.run(spec, on_line)
    assert exit_.exit_code == 0 and first, exit_
    return first[0]


def _summary(name: str, samples: list[float], base: float) -> str:
    med = statistics.median(samples)
    return (
        f"{name:<44} median {med * 1000:7.0f} ms   min {min(samples) * 1000:6.0f} ms   "
        f"max {max(samples) * 1000:6.0f} ms   x{med / base:5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    image = build_sandbox_image(docker_client(600), BuildInputs()).tag
    runtime = DockerRuntime()
    # An address of this machine, allowed but never contacted: only the set-up is measured.
    allow = ("127.0.0.1:9",)
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as ws:
        workspace = Path(ws)
        if os.geteuid() == 0:
            os.chown(workspace, 1000, 1000)
        variants: dict[str, Callable[[], float]] = {
            "bare docker run": lambda: bare_docker_run(image),
            "runtime, no network (nothing allowed)": lambda: runtime_run(
                runtime, image, workspace, ()
            ),
            "runtime, full policy (network + egress proxy)": lambda: runtime_run(
                runtime, image, workspace, allow
            ),
        }
        for run in variants.values():  # warm-up: page cache, image layers
            run()
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, run in variants.items():
                samples[name].append(run())
    base = statistics.median(samples["bare docker run"])
    print(f"sandbox start to first output, {args.runs} runs each, image {image}")
    for name, values in samples.items():
        print(_summary(name, values, base))
    full = statistics.median(samples["runtime, full policy (network + egress proxy)"])
    print(f"ratio full policy / bare docker run: {full / base:.2f}")


if __name__ == "__main__":
    main()
