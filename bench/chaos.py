"""The chaos suite: real `burndown` processes (api, intake and run workers, beat) on real Redis
and PostgreSQL of their own, real sandboxes (the scripted harness) and the GitHub stand-in,
with faults injected; prints each scenario's figures.

    uv run python -m bench.chaos [SCENARIO ...] [--trials 20] [--tickets 1000] [--slots 8]

Scenarios (all when none is named): kill (a run worker SIGKILLed mid-run, `--trials` times),
redis (Redis restarted mid-burst), postgres (PostgreSQL restarted mid-run), github (5xx bursts,
403 secondary rate limits, 429 with Retry-After), docker (Docker API errors on container
create and start), burst (`--tickets` at once on `--slots` run slots). Small counts are what
`tests/e2e/test_chaos.py` runs; the defaults are the full counts. Needs Docker, the sandbox
image, and Debian's redis-server and postgresql.
"""

import argparse
import json
import tempfile
from pathlib import Path

from bench.chaos_scenarios import SCENARIOS, Figures


def run_scenario(name: str, tmp: Path, image: str, args: argparse.Namespace) -> Figures:
    """Run scenario `name` with the counts of `args`."""
    fn = SCENARIOS[name]
    if name == "kill":
        return fn(tmp, image, args.trials)
    if name == "burst":
        return fn(tmp, image, args.tickets, args.slots)
    return fn(tmp, image, args.fault_tickets)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("scenarios", nargs="*", help=f"some of: {', '.join(SCENARIOS)}")
    p.add_argument("--trials", type=int, default=20, help="kill: worker SIGKILLs")
    p.add_argument("--tickets", type=int, default=1000, help="burst: tickets labelled at once")
    p.add_argument("--slots", type=int, default=8, help="burst: run slots")
    p.add_argument("--fault-tickets", type=int, default=6, help="other scenarios: tickets")
    args = p.parse_args()
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        p.error(f"unknown scenarios: {', '.join(unknown)}")
    from sandbox.docker_client import docker_client
    from sandbox.images import BuildInputs, build_sandbox_image

    image = build_sandbox_image(docker_client(600), BuildInputs()).tag
    for name in args.scenarios or list(SCENARIOS):
        with tempfile.TemporaryDirectory(prefix=f"chaos-{name}-") as tmp:
            figures = run_scenario(name, Path(tmp), image, args)
        print(json.dumps({"scenario": name, **figures}), flush=True)


if __name__ == "__main__":
    main()
