"""Limits hold and are reported as such: wall clock, idle output, memory, processes, tmpfs. The
repository's .burndown.yml lowers the operator's maxima, as it would for a harness. While a
sandbox bombs, a neighbouring sandbox still runs."""

import os
import subprocess
import threading
from pathlib import Path

import pytest

from scheduler.cli.sandbox_run import EXIT_FOR_LIMIT
from tests.support.processes import Ran, leftovers, sandbox_run

pytestmark = pytest.mark.docker


def _repo(tmp_path: Path, config: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".burndown.yml").write_text(config)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "1000:1000", str(repo)], check=True, timeout=30)
    return repo


def test_sleeping_past_the_wall_clock_limit(env: dict[str, str], run_id: str) -> None:
    ran = sandbox_run(
        ["--timeout", "3", "--", "bash", "-c", "echo going; sleep 60"], env, run_id=run_id
    )
    assert ran.code == EXIT_FOR_LIMIT["time"] == 124
    assert "going" in ran.out
    assert "wall-clock limit (3s)" in ran.err
    assert ran.seconds < 40


def test_printing_nothing_past_the_idle_limit(env: dict[str, str], run_id: str) -> None:
    script = "for i in 1 2 3; do echo tick $i; sleep 1; done; sleep 60"
    ran = sandbox_run(["--idle-timeout", "3", "--", "bash", "-c", script], env, run_id=run_id)
    assert ran.code == EXIT_FOR_LIMIT["idle"] == 123
    assert "tick 3" in ran.out  # output kept the run alive past 3 s
    assert "printed nothing for 3s" in ran.err
    assert ran.seconds < 40


def test_the_command_exit_code_is_passed_through(env: dict[str, str], run_id: str) -> None:
    ran = sandbox_run(["--", "bash", "-c", "echo out; echo err >&2; exit 7"], env, run_id=run_id)
    assert (ran.code, ran.out, ran.err) == (7, "out\n", "err\n")


def test_a_memory_hog_is_killed_at_the_memory_limit(
    env: dict[str, str], run_id: str, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, "sandbox:\n  memory: 128m\n")
    hog = (
        "import sys\nchunks = []\nfor i in range(64):\n"
        "    chunks.append(bytearray(16 * 1024 * 1024))\n    print(i, flush=True)\n"
    )
    ran = sandbox_run(["--repo", str(repo), "--", "python3", "-c", hog], env, run_id=run_id)
    assert ran.code == EXIT_FOR_LIMIT["memory"] == 122, ran.err
    assert "memory limit (128m)" in ran.err
    allocated = int(ran.out.split()[-1]) + 1
    assert 2 <= allocated < 8  # about 128 MiB in 16 MiB chunks, never the whole GiB


def test_filling_the_tmpfs_stops_at_its_size(
    env: dict[str, str], run_id: str, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, "sandbox:\n  tmpfs_size: 16m\n")
    script = (
        "for d in /tmp $HOME; do dd if=/dev/zero of=$d/fill bs=1M count=64 2>&1"
        " | grep -o 'No space left on device';"
        ' echo "$d $(stat -c %s $d/fill)"; done; df -k /tmp | tail -1'
    )
    ran = sandbox_run(["--repo", str(repo), "--", "bash", "-c", script], env, run_id=run_id)
    assert ran.code == 0, ran.err
    assert ran.out.count("No space left on device") == 2
    sizes = dict(line.split() for line in ran.out.splitlines() if line.startswith("/"))
    assert 0 < int(sizes["/tmp"]) <= 16 * 1024 * 1024
    assert 0 < int(sizes["/home/agent"]) <= 16 * 1024 * 1024
    assert ran.out.splitlines()[-1].split()[1] == str(16 * 1024)  # df: 16 MiB in 1k blocks


FORKS = """
import os, time
children = 0
while True:
    try:
        pid = os.fork()
    except OSError as exc:
        print("refused", exc.errno, flush=True)
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    children += 1
print("children", children, flush=True)
"""


def test_a_fork_bomb_is_bounded_and_the_neighbours_run_on(
    env: dict[str, str], run_id: str, tmp_path: Path
) -> None:
    repo = _repo(tmp_path, "sandbox:\n  pids: 64\n  cpus: 0.5\n")
    counted = sandbox_run(
        ["--repo", str(repo), "--timeout", "20", "--", "python3", "-c", FORKS], env, run_id=run_id
    )
    assert "refused 11" in counted.out, counted.err  # EAGAIN: the pids limit
    assert int(counted.out.split()[-1]) < 64

    # The classic bomb, until the wall-clock limit kills it; a neighbour runs meanwhile.
    bomb: list[Ran] = []
    bomber = threading.Thread(
        target=lambda: bomb.append(
            sandbox_run(
                [
                    "--repo",
                    str(repo),
                    "--timeout",
                    "12",
                    "--",
                    "bash",
                    "-c",
                    ":(){ :|:& };:; sleep 60",
                ],
                env,
                run_id=run_id,
            )
        )
    )
    bomber.start()
    neighbour_id = f"{run_id}-neighbour"
    try:
        neighbour = sandbox_run(
            ["--", "bash", "-c", "sleep 4; echo alive"], env, run_id=neighbour_id
        )
    finally:
        bomber.join(timeout=120)
    assert (neighbour.code, neighbour.out) == (0, "alive\n"), neighbour.err
    assert leftovers(neighbour_id) == []
    assert bomb[0].code == EXIT_FOR_LIMIT["time"], bomb[0].err
    assert subprocess.run(["true"], timeout=10).returncode == 0  # the host still forks
