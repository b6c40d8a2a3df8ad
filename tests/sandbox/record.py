"""Capture the native streams of the real harness CLIs, run in the sandbox against the scripted
model, into `recordings/`: `uv run python -m tests.sandbox.record [harness[:scenario]] ...`.
The recordings are what the exact-mapping tests read; re-capture after bumping a harness."""

import sys
import tempfile
from pathlib import Path

from sandbox.docker_client import docker_client
from sandbox.images import BuildInputs, build_sandbox_image
from tests.sandbox.harness_runner import run
from tests.sandbox.scenarios import SCENARIOS

RECORDINGS = Path(__file__).parent / "recordings"


def main() -> None:
    wanted = sys.argv[1:]
    image = build_sandbox_image(docker_client(600), BuildInputs()).tag
    for s in SCENARIOS:
        key = f"{s.harness}:{s.name}"
        if wanted and s.harness not in wanted and key not in wanted:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = run(s.harness, s.script(), image, Path(tmp), options=s.options)
        path = RECORDINGS / f"{s.harness}-{s.name}.jsonl"
        path.write_text("".join(f"{line}\n" for line in out.lines if line.strip()))
        result = [e.data for e in out.events if e.kind == "result"]
        print(f"{path.name}: {len(out.lines)} lines, exit {out.exit.exit_code}, {result}")


if __name__ == "__main__":
    main()
