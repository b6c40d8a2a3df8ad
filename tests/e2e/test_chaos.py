"""The chaos suite with small counts (`bench/chaos.py` runs the full ones): each fault, on real
processes, Redis, PostgreSQL, sandboxes and the GitHub stand-in, meets its goal."""

from pathlib import Path

from bench.chaos_scenarios import (
    burst,
    docker_faults,
    github_faults,
    kill,
    postgres_restart,
    redis_restart,
)


def test_worker_sigkill_mid_run(sandbox_image: str, tmp_path: Path) -> None:
    f = kill(tmp_path, sandbox_image, trials=2)
    assert f["ended"] == "2/2" and f["pull_requests"] == "2/2", f
    assert (f["duplicate_pull_requests"], f["duplicate_comments"], f["leftovers"]) == (0, 0, 0), f


def test_redis_restarted_mid_burst(sandbox_image: str, tmp_path: Path) -> None:
    f = redis_restart(tmp_path, sandbox_image, tickets=2)
    assert (f["lost"], f["duplicate_pull_requests"], f["leftovers"]) == (0, 0, 0), f


def test_postgres_restarted_mid_run(sandbox_image: str, tmp_path: Path) -> None:
    f = postgres_restart(tmp_path, sandbox_image, tickets=2)
    assert (f["lost"], f["duplicate_pull_requests"], f["leftovers"]) == (0, 0, 0), f


def test_github_5xx_secondary_rate_limits_and_429(sandbox_image: str, tmp_path: Path) -> None:
    f = github_faults(tmp_path, sandbox_image, tickets=1)
    assert f["ended"] == "1/1" and f["retry_after_honoured"] == "2/2", f
    assert (f["lost_pull_requests"], f["duplicate_pull_requests"]) == (0, 0), f
    assert f["pull_requests_recorded"] == "1/1", f
    assert f["duplicate_comments"] == 0, f


def test_docker_api_errors_on_create_and_start(sandbox_image: str, tmp_path: Path) -> None:
    f = docker_faults(tmp_path, sandbox_image, tickets=2)
    # A hiccup: each ticket's first run cannot start its sandbox, the next one opens the PR.
    assert f["hiccup_ended_done"] == "2/2" and f["injected"] == 2, f
    # An outage: the ticket runs its 2 attempts, then is a dead letter and the issue hears it.
    assert f["outage_dead_letters"] == "1/1" and f["outage_runs"] == 2, f
    assert f["issue_told"] == 1, f
    assert f["clear_outcomes"] == "4/4", f  # every failed run says it could not start
    assert (f["duplicate_pull_requests"], f["leftovers"]) == (0, 0), f


def test_a_burst_drains_within_its_run_slots(sandbox_image: str, tmp_path: Path) -> None:
    f = burst(tmp_path, sandbox_image, tickets=8, slots=4)
    assert f["ended"] == "8/8" and f["lost"] == 0, f
    assert 1 < f["peak_sandboxes"] <= 4, f
    assert (f["duplicate_pull_requests"], f["leftovers"]) == (0, 0), f
    assert f["intake_ack_p99_ms"] < 10_000, f  # GitHub gives up on a delivery after 10 s
