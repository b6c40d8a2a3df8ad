"""Per harness, side by side in one run: start-up (container start to the first unified event,
median over N runs of the real CLI in the sandbox against the scripted model) and parsing speed
(unified events per second over a recorded native stream repeated to ~100k lines). The
`scripted` harness (no model, the image's python3 only) is the baseline: what the sandbox
itself costs.

    uv run python -m bench.harness [--runs 3] [--lines 100000]

Needs the Docker engine and the sandbox image (`burndown sandbox build`). Ratios are to the
fastest harness of each column.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sandbox.docker_client import docker_client
from sandbox.harness.protocol import HarnessOptions
from sandbox.harness.registry import get_harness
from sandbox.harness.run import HarnessJob, harness_spec
from sandbox.harness.scripted import SCRIPT_ENV, Run, Say, Script, play_in_process
from sandbox.images import BuildInputs, build_sandbox_image
from sandbox.runtime import SandboxPolicy
from tests.sandbox.harness_runner import run
from tests.sandbox.scenarios import FIX, scenario
from tests.support.model_server import ScriptSource, Turn, shell_turn

RECORDINGS = Path(__file__).parents[1] / "tests" / "sandbox" / "recordings"
HARNESSES = ["claude-code", "codex", "mini-swe-agent", "aider", "scripted"]
#: What the scripted harness does: the fix the others are asked for, then a word.
SCRIPTED = Script(actions=[Run(command=FIX), Say(text="Fixed.")])


def startup_seconds(name: str, image: str, runs: int) -> float:
    """Median seconds from the container's start to the first unified event."""
    if name == "claude-code":
        script, options = _claude_script, HarnessOptions()
    elif name == "scripted":
        env = {SCRIPT_ENV: SCRIPTED.model_dump_json()}
        script, options = _claude_script, HarnessOptions(extra_env=env)
    else:
        s = scenario(name, "success")
        script, options = s.script, s.options
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = run(name, script(), image, Path(tmp), options=options)
        samples.append(out.first_event_seconds)
    return statistics.median(samples)


def _claude_script() -> ScriptSource:
    return [shell_turn(None, FIX), Turn(text="Fixed.")]


def parse_rate(name: str, lines: int) -> tuple[float, int]:
    """Unified events per second over the success recording repeated to `lines` lines."""
    native = _native(name)
    stream = (native * (lines // len(native) + 1))[:lines]
    harness = get_harness(name)
    t0 = time.perf_counter()
    count = sum(len(harness.parse_line(line)) for line in stream)
    return count / (time.perf_counter() - t0), count


def _native(name: str) -> list[str]:
    """The success recording of `name`; the scripted harness's own lines, played here."""
    if name != "scripted":
        return (RECORDINGS / f"{name}-success.jsonl").read_text().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "greeting.txt").write_text("helo\n")
        spec = harness_spec(
            HarnessJob(
                harness="scripted",
                prompt="fix the greeting",
                image="-",
                workspace=Path(tmp),
                policy=SandboxPolicy(),
                options=HarnessOptions(extra_env={SCRIPT_ENV: SCRIPTED.model_dump_json()}),
                user="1:1",
            ),
            get_harness("scripted"),
        )
        lines, _ = play_in_process(spec, Path(tmp))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lines", type=int, default=100_000)
    args = ap.parse_args()
    image = build_sandbox_image(docker_client(600), BuildInputs()).tag
    start = {h: startup_seconds(h, image, args.runs) for h in HARNESSES}
    rate = {h: parse_rate(h, args.lines) for h in HARNESSES}
    fastest_start = min(start.values())
    fastest_rate = max(r for r, _ in rate.values())
    print(f"image {image}; start-up median of {args.runs}; parsing {args.lines} native lines")
    print(f"{'harness':<16}{'start-up s':>11}{'x fastest':>10}{'events/s':>12}{'x fastest':>10}")
    for h in HARNESSES:
        r, _ = rate[h]
        print(
            f"{h:<16}{start[h]:>11.2f}{start[h] / fastest_start:>10.2f}"
            f"{r:>12,.0f}{fastest_rate / r:>10.2f}"
        )


if __name__ == "__main__":
    main()
