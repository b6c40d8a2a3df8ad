"""A scriptable `ContainerRuntime` for unit tests: no Docker, same contract."""

import time
from collections.abc import Callable
from pathlib import Path

from sandbox.docker_client import removing
from sandbox.env_image import CREATED_LABEL, EnvBuildResult, EnvImage
from sandbox.runtime import ContainerExit, ContainerSpec, EgressEvent, LineSink

Script = Callable[[ContainerSpec, Path | None], tuple[list[str], int]]


class FakeRuntime:
    """Plays a script instead of running a container. The script sees the spec and the host
    path of the workspace mount (to edit files as an agent would) and returns stdout lines and
    an exit code; `egress` plays the egress proxy's refusals. The played container is removed
    afterwards the way `DockerRuntime` removes its own; `remove_error`, when given, is what
    that removal raises."""

    def __init__(
        self,
        script: Script,
        egress: list[EgressEvent] | None = None,
        remove_error: Exception | None = None,
    ) -> None:
        self._script = script
        self._egress = egress or []
        self._remove_error = remove_error
        self.specs: list[ContainerSpec] = []
        self.stopped: list[str] = []
        """Run ids `stop_run` was called for; a script can watch it to end early."""
        self.removed = 0

    def run(
        self, spec: ContainerSpec, on_line: LineSink, on_stderr: LineSink | None = None
    ) -> ContainerExit:
        self.specs.append(spec)
        workspace = next((m.source for m in spec.mounts if m.target == spec.workdir), None)
        with removing(self._remove, f"fake container {len(self.specs)}"):
            lines, code = self._script(spec, workspace)
            for line in lines:
                on_line(line)
        return ContainerExit(exit_code=code, egress=self._egress)

    def stop_run(self, run_id: str, deployment: str) -> int:
        self.stopped.append(run_id)
        return 1

    def _remove(self) -> None:
        if self._remove_error is not None:
            raise self._remove_error
        self.removed += 1


class FakeEnvironmentImages:
    """Plays environment builds: `script` runs the setup (as `FakeRuntime`'s does) and an exit
    code 0 "commits" an image, kept in `images` by tag. `builds` counts the setups run."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self.images: dict[str, EnvImage] = {}
        self.builds: list[ContainerSpec] = []

    def find(self, tag: str) -> EnvImage | None:
        return self.images.get(tag)

    def build(
        self, spec: ContainerSpec, tag: str, labels: dict[str, str], on_line: LineSink
    ) -> EnvBuildResult:
        self.builds.append(spec)
        workspace = next((m.source for m in spec.mounts if m.target == spec.workdir), None)
        lines, code = self._script(spec, workspace)
        for line in lines:
            on_line(line)
        exit_ = ContainerExit(exit_code=code)
        if code != 0:
            return EnvBuildResult(exit=exit_)
        stamp = {CREATED_LABEL: str(int(time.time()))}
        image = EnvImage(tag=tag, image_id=f"sha256:{len(self.builds)}", labels={**labels, **stamp})
        self.images[tag] = image
        return EnvBuildResult(exit=exit_, image=image)

    def list(self) -> list[EnvImage]:
        return sorted(self.images.values(), key=lambda e: e.created)

    def remove(self, tag: str) -> bool:
        return self.images.pop(tag, None) is not None
