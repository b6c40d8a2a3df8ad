"""The chaos scenarios: each builds a deployment of real processes (api, intake and run workers,
beat) on its own Redis and PostgreSQL, the GitHub stand-in and real sandboxes running the
scripted harness, injects one kind of fault, and returns its figures. Goals are in `GOALS`."""

import itertools
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.chaos_world import (
    duplicate_pulls,
    leftovers,
    percentile,
    pulls_of,
    wait_ended,
    watch_memory,
    watch_sandboxes,
    world,
)
from tests.support.deployment import REPO, Deployment, fix_script
from tests.support.docker_proxy import docker_fault_proxy

Figures = dict[str, Any]
END_TIMEOUT = 240.0
LIVENESS = {"BURNDOWN_HEARTBEAT_TIMEOUT_SECONDS": "4"}


def _control_plane(d: Deployment) -> None:
    d.api()
    d.start("intake", ["worker", "--role", "intake"])
    d.start("beat", ["beat"])


def _burst(d: Deployment, count: int) -> tuple[list[int], list[float]]:
    numbers = [d.issue() for _ in range(count)]
    return numbers, [d.deliver(n) for n in numbers]


def _running(d: Deployment) -> int:
    return len(d.rows("SELECT id FROM run WHERE status = 'running'"))


def kill(tmp: Path, image: str, trials: int) -> Figures:
    """A run worker SIGKILLed (with its pool) mid-run, `trials` times; a new one takes over."""
    with world(tmp, image, fix_script(sleep_seconds=4), **LIVENESS) as w:
        d = w.d
        _control_plane(d)
        numbers: list[int] = []
        recovery: list[float] = []
        d.start("runs0", ["worker", "--role", "runs"])
        for trial in range(trials):
            n = d.issue()
            numbers.append(n)
            d.deliver(n)
            d.wait("a run", lambda n=n: d.ticket_status(n) == "running", 120)
            time.sleep(random.uniform(0, 3))
            d.kill(f"runs{trial}")
            killed = time.monotonic()
            d.start(f"runs{trial + 1}", ["worker", "--role", "runs"])
            wait_ended(d, [n], END_TIMEOUT)
            recovery.append(time.monotonic() - killed)
        done = wait_ended(d, numbers, END_TIMEOUT)
        return {
            "trials": trials,
            "ended": f"{done}/{trials}",
            "pull_requests": f"{pulls_of(d, numbers)}/{trials}",
            "duplicate_pull_requests": duplicate_pulls(d),
            "duplicate_comments": d.duplicate_comments(numbers),
            "leftovers": leftovers(d),
            "kill_to_end_p50_s": round(percentile(recovery, 0.5), 1),
            "outcomes": _outcomes(d),
            "tickets": dict(d.statuses()),
            "errors": sorted({(e or "")[:160] for n in numbers for _, _, e in d.runs_of(n) if e}),
        }


def redis_restart(tmp: Path, image: str, tickets: int) -> Figures:
    """Redis (no persistence: every message lost) restarted in the middle of a burst."""
    with world(tmp, image, fix_script(sleep_seconds=2), BURNDOWN_RUN_SLOTS="2") as w:
        d = w.d
        _control_plane(d)
        d.start("runs", ["worker", "--role", "runs"])
        first, _ = _burst(d, tickets // 2)
        w.redis.restart()
        second, _ = _burst(d, tickets - len(first))
        numbers = first + second
        done = wait_ended(d, numbers, END_TIMEOUT + 10 * tickets)
        return {
            "tickets": tickets,
            "ended": f"{done}/{tickets}",
            "lost": tickets - done,
            "duplicate_pull_requests": duplicate_pulls(d),
            "leftovers": leftovers(d),
        }


def postgres_restart(tmp: Path, image: str, tickets: int) -> Figures:
    """PostgreSQL restarted (immediate stop) while runs are going."""
    with world(tmp, image, fix_script(sleep_seconds=4), BURNDOWN_RUN_SLOTS="2", **LIVENESS) as w:
        d = w.d
        _control_plane(d)
        d.start("runs", ["worker", "--role", "runs"])
        numbers, _ = _burst(d, tickets)
        d.wait("a run", lambda: _running(d) > 0, 120)
        w.postgres.restart()
        done = wait_ended(d, numbers, END_TIMEOUT + 10 * tickets)
        return {
            "tickets": tickets,
            "ended": f"{done}/{tickets}",
            "lost": tickets - done,
            "duplicate_pull_requests": duplicate_pulls(d),
            "leftovers": leftovers(d),
        }


RATE_LIMITED = {"message": "You have exceeded a secondary rate limit."}
RETRY_AFTER_SECONDS = 2


def _arm_github(d: Deployment, n: int) -> None:
    """Per ticket: 5xx bursts, a 403 secondary rate limit and a 429, on reads and writes, some
    answered only after the write happened."""
    gh, issue = d.github, rf"/repos/{REPO}/issues/{n}"
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    for status in (502, 503, 500):
        gh.fail_next("GET", issue, status, {"message": "Server Error"})
    gh.fail_next("GET", rf"{issue}/comments", 429, {"message": "Too many requests"}, retry)
    gh.fail_next("GET", rf"{issue}/comments", 403, RATE_LIMITED, retry)
    gh.fail_next("POST", rf"{issue}/comments", 502, {"message": "Bad Gateway"}, after=True)
    gh.fail_next("POST", rf"/repos/{REPO}/pulls", 502, {"message": "Bad Gateway"}, after=True)


def _retry_after_gaps(d: Deployment, numbers: list[int]) -> list[float]:
    """Per ticket, the seconds between each of the two requests answered with Retry-After (the
    first two reads of its comments: rules are used in order) and the request after it."""
    log = d.github.timed_requests
    gaps: list[float] = []
    for n in numbers:
        path = f"/repos/{REPO}/issues/{n}/comments"
        times = [t for t, m, p in log if (m, p) == ("GET", path)][:3]
        gaps += [b - a for a, b in itertools.pairwise(times)]
    return gaps


def github_faults(tmp: Path, image: str, tickets: int) -> Figures:
    """GitHub answering bursts of 5xx, 403 secondary rate limits and 429 with Retry-After."""
    with world(tmp, image, fix_script(), BURNDOWN_RUN_SLOTS="2") as w:
        d = w.d
        _control_plane(d)
        numbers = [d.issue() for _ in range(tickets)]
        for n in numbers:
            _arm_github(d, n)
        d.start("runs", ["worker", "--role", "runs"])
        for n in numbers:
            d.deliver(n)
        done = wait_ended(d, numbers, END_TIMEOUT + 10 * tickets)
        gaps = _retry_after_gaps(d, numbers)
        honoured = sum(1 for g in gaps if g >= RETRY_AFTER_SECONDS - 0.05)
        return {
            "tickets": tickets,
            "ended": f"{done}/{tickets}",
            "lost_pull_requests": tickets - pulls_of(d, numbers),
            "pull_requests_recorded": f"{_recorded_pulls(d)}/{tickets}",
            "duplicate_pull_requests": duplicate_pulls(d),
            "duplicate_comments": d.duplicate_comments(numbers),
            "retry_after_honoured": f"{honoured}/{2 * tickets}",
            "outcomes": _outcomes(d),
        }


def _recorded_pulls(d: Deployment) -> int:
    """Tickets whose run recorded the pull request it opened (none lost to a lost answer)."""
    rows = d.rows("SELECT count(DISTINCT ticket_id) FROM outcome WHERE pr_url IS NOT NULL")
    return int(rows[0][0])


def _outcomes(d: Deployment) -> dict[str, int]:
    rows = d.rows("SELECT kind, count(*) FROM outcome GROUP BY kind")
    return {str(k): int(c) for k, c in rows}


def docker_faults(tmp: Path, image: str, tickets: int) -> Figures:
    """Docker answering 500 through a proxy in front of its socket: once on container create,
    then once on container start (a hiccup: the ticket waits and its next run succeeds), then on
    every create (an outage: after its attempts the ticket is a dead letter saying why)."""
    attempts = 2
    with (
        docker_fault_proxy() as proxy,
        world(tmp, image, fix_script(), BURNDOWN_MAX_RUN_ATTEMPTS=str(attempts)) as w,
    ):
        d = w.d
        _control_plane(d)
        d.start("runs", ["worker", "--role", "runs"], DOCKER_HOST=proxy.docker_host)
        half = tickets // 2
        proxy.fail("POST", r"/containers/create", times=half)
        hiccup, _ = _burst(d, half)
        wait_ended(d, hiccup, END_TIMEOUT)
        proxy.fail("POST", r"/containers/[^/]+/start", times=tickets - half)
        more, _ = _burst(d, tickets - half)
        hiccup += more
        recovered = wait_ended(d, hiccup, END_TIMEOUT)
        injected = len(proxy.failed)
        outage = proxy.fail("POST", r"/containers/create", times=10**6)
        down, _ = _burst(d, 1)
        gave_up = wait_ended(d, down, END_TIMEOUT)
        outage.left = 0
        failed_runs = [r for n in hiccup + down for r in d.runs_of(n) if r[1] == "failed"]
        clear = sum(1 for r in failed_runs if "500 Server Error" in (r[2] or ""))
        return {
            "tickets": tickets,
            "hiccup_ended_done": f"{_done(d, hiccup)}/{tickets}",
            "hiccup_ended": f"{recovered}/{tickets}",
            "injected": injected,
            "outage_dead_letters": f"{_dead(d, down)}/{gave_up}",
            "outage_runs": len(d.runs_of(down[0])),
            "clear_outcomes": f"{clear}/{len(failed_runs)}",
            "issue_told": sum(
                1 for c in d.github.issue_comments(REPO, down[0]) if "could not finish" in c["body"]
            ),
            "duplicate_pull_requests": duplicate_pulls(d),
            "leftovers": leftovers(d),
        }


def _done(d: Deployment, numbers: list[int]) -> int:
    return sum(1 for n in numbers if d.ticket_status(n) == "done")


def _dead(d: Deployment, numbers: list[int]) -> int:
    return sum(1 for n in numbers if d.ticket_status(n) == "dead")


def burst(tmp: Path, image: str, tickets: int, slots: int = 8) -> Figures:
    """`tickets` labelled at once on one run worker of `slots` slots: it drains, never more than
    `slots` sandboxes at once, none lost; control-plane memory and intake acknowledgements."""
    with world(tmp, image, fix_script(sleep_seconds=2), BURNDOWN_RUN_SLOTS=str(slots)) as w:
        d = w.d
        _control_plane(d)
        d.start("runs", ["worker", "--role", "runs"])
        plane = [d.procs[name].pid for name in ("api", "intake", "beat")]
        with watch_sandboxes(d.queue) as boxes, watch_memory(plane) as mem:
            t0 = time.monotonic()
            numbers, acks = _burst(d, tickets)
            done = wait_ended(d, numbers, END_TIMEOUT + 6 * tickets)
            drained = time.monotonic() - t0
        return {
            "tickets": tickets,
            "slots": slots,
            "ended": f"{done}/{tickets}",
            "lost": tickets - done,
            "peak_sandboxes": boxes.peak,
            "duplicate_pull_requests": duplicate_pulls(d),
            "drain_seconds": round(drained, 1),
            "control_plane_peak_mib": round(mem.peak / 2**20, 1),
            "intake_ack_p50_ms": round(1000 * percentile(acks, 0.5), 1),
            "intake_ack_p99_ms": round(1000 * percentile(acks, 0.99), 1),
            "leftovers": leftovers(d),
        }


SCENARIOS: dict[str, Callable[..., Figures]] = {
    "kill": kill,
    "redis": redis_restart,
    "postgres": postgres_restart,
    "github": github_faults,
    "docker": docker_faults,
    "burst": burst,
}
