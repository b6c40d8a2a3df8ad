"""A ticket on a real project with a setup: environments kept as images against today's
setup-every-time, side by side in one run.

The project is toolz (its PyPI sdist, its own test suite) on the GitHub stand-in; the setup
installs a real test dependency from PyPI (hypothesis, through the egress proxy and the host's
TLS-inspecting proxy); the scripted harness makes a small change, and verification runs
pytest on the base commit and on the change. Each ticket is one `run_ticket` through the real
pipeline, timed from claim to pull request:

- `today`: no environments (`BURNDOWN_ENVIRONMENTS=false`): both verification sandboxes run
  the setup, so they (and the agent's sandbox) must reach PyPI, and the setup installs into
  `/tmp` (the root is read-only);
- `environment`: the setup runs once in an environment build and every sandbox starts from
  the committed image; the first ticket builds it, the next ones reuse it.

Tickets alternate between the two so that both see the same load.

    uv run python -m bench.environment [--tickets 4]

Needs Docker, the sandbox image and the Python toolchain image (built if missing), and PyPI.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from sandbox.ca_trust import host_extra_cas, read_cas
from sandbox.docker_client import docker_client
from sandbox.env_image import DockerEnvironmentImages
from sandbox.harness.scripted import SCRIPT_ENV, Run, Say, Script
from sandbox.images import BuildInputs, build_sandbox_image
from sandbox.images.toolchains import build_toolchain_image
from tests.support.github_standin import GitHubStandIn
from tests.support.sdists import PROJECTS, project_files
from worker.pipeline import PipelineDeps, run_ticket
from worker.settings import Settings
from worker.store.migrate import upgrade
from worker.store.repo import queue_ticket, upsert_ticket
from worker.wiring import pipeline_deps

DEPENDENCY = "hypothesis==6.170.17"
PYPI = ["pypi.org", "files.pythonhosted.org"]
CONFIGS = {
    # Today: the read-only root leaves /tmp for what the setup installs.
    "today": (
        "toolchain: python\n"
        f"setup: ['pip install --no-cache-dir --target /tmp/site {DEPENDENCY}']\n"
        "test: ['PYTHONPATH=/tmp/site python3 -m pytest -q -p no:cacheprovider']\n"
    ),
    "environment": (
        "toolchain: python\n"
        f"setup: ['pip install {DEPENDENCY}']\n"
        "test: ['python3 -m pytest -q -p no:cacheprovider']\n"
    ),
}
CHANGE = Script(
    actions=[
        Run(command="printf '\\nSee the documentation.\\n' >> README.rst"),
        Say(text="Pointed the README at the documentation."),
    ]
)


def _deps(gh: GitHubStandIn, token: str, work: Path, mode: str, toolchain: str) -> PipelineDeps:
    url = f"sqlite:///{work / 'store.db'}"
    upgrade(url)
    today = mode == "today"
    return pipeline_deps(
        Settings(
            data_dir=work / "data",
            database_url=url,
            github_api_url=gh.api_url,
            github_token=token,
            sandbox_toolchain_image=toolchain,
            harness="scripted",
            harness_env={SCRIPT_ENV: CHANGE.model_dump_json()},
            run_timeout_seconds=1800,
            environments=not today,
            # today, the tests' setup must reach PyPI from the verification sandboxes
            sandbox_allow_hosts=PYPI if today else [],
        )
    )


def _ticket(gh: GitHubStandIn, d: PipelineDeps, repo: str, n: int) -> tuple[float, str]:
    title = f"Point the README at the docs ({n})"
    number = gh.create_issue(repo, title, "See the title.", "maria", ["burndown"])
    t = upsert_ticket(d.engine, repo, number, title=title, body="", url="u", labeled_by="maria")
    assert t.id is not None and queue_ticket(d.engine, t.id)
    t0 = time.monotonic()
    outcome = run_ticket(t.id, d)
    seconds = time.monotonic() - t0
    assert outcome is not None
    return seconds, f"{outcome.kind}: {outcome.detail[:80]}"


def _forget(images: DockerEnvironmentImages, toolchain: str) -> None:
    """Remove the environments built on `toolchain` by the benchmark's setup."""
    for image in images.list():
        if image.labels.get("org.burndown.env.image") == toolchain:
            images.remove(image.tag)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=4, help="tickets per mode")
    args = parser.parse_args()
    client = docker_client(600)
    build_sandbox_image(client, BuildInputs())
    cas = read_cas(host_extra_cas())
    toolchain = build_toolchain_image(client, BuildInputs(), "python", cas).tag
    files = project_files("toolz", PROJECTS["toolz"])
    times: dict[str, list[float]] = {"today": [], "environment": []}
    outcomes: dict[str, list[str]] = {"today": [], "environment": []}
    with tempfile.TemporaryDirectory(prefix="bench-env-") as tmp, GitHubStandIn() as gh:
        token = gh.add_user("burndown-bot")
        gh.add_user("maria")
        deps = {}
        for mode, config in CONFIGS.items():
            repo = f"acme/toolz-{mode}"
            gh.add_repo(repo, {**files, ".burndown.yml": config})
            gh.set_permission(repo, "maria", "maintain")
            gh.set_permission(repo, "burndown-bot", "write")
            work = Path(tmp) / mode
            work.mkdir()
            deps[mode] = (_deps(gh, token, work, mode, toolchain), repo)
        kept = DockerEnvironmentImages()
        _forget(kept, toolchain)  # the first ticket builds its environment
        for n in range(args.tickets):
            for mode in ("environment", "today"):
                d, repo = deps[mode]
                seconds, outcome = _ticket(gh, d, repo, n)
                times[mode].append(seconds)
                outcomes[mode].append(outcome)
                print(
                    json.dumps(
                        {
                            "mode": mode,
                            "ticket": n,
                            "seconds": round(seconds, 2),
                            "outcome": outcome,
                        }
                    ),
                    flush=True,
                )
        _forget(kept, toolchain)
    later = statistics.median(times["environment"][1:]) if args.tickets > 1 else float("nan")
    today = statistics.median(times["today"])
    print(
        json.dumps(
            {
                "tickets_per_mode": args.tickets,
                "environment_first_s": round(times["environment"][0], 2),
                "environment_after_first_median_s": round(later, 2),
                "today_median_s": round(today, 2),
                "today_over_environment": round(today / later, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
