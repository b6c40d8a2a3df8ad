"""Verification verdicts from base and head results, and test ids from runners' output."""

import subprocess

from worker.verify import SETUP_FAILED, Check, Commands, failures_in, judge, script

CMDS = Commands(setup=["make deps"], test=["pytest -q"], source=".burndown.yml")


def check(code: int | None, *failures: str) -> Check:
    return Check(sha="x", exit_code=code, failures=set(failures), tail="")


def test_test_ids_from_each_runner() -> None:
    out = "\n".join(
        [
            "FAILED tests/test_a.py::test_x - AssertionError",
            "ERROR tests/test_b.py::test_y",
            "--- FAIL: TestParse (0.00s)",
            "test parser::tests::it_works ... FAILED",
            "not ok 3 - adds numbers",
            "PASSED tests/test_c.py::ok",
        ]
    )
    assert failures_in(out) == {
        "tests/test_a.py::test_x",
        "tests/test_b.py::test_y",
        "TestParse",
        "parser::tests::it_works",
        "adds numbers",
    }


def test_verdicts() -> None:
    assert judge(CMDS, check(0), check(0)).verified
    v = judge(CMDS, check(0), check(1, "t::a"))
    assert not v.verified and v.newly_failing == ["t::a"]
    v = judge(CMDS, check(1, "t::old"), check(1, "t::old", "t::new"))
    assert not v.verified and v.newly_failing == ["t::new"] and v.pre_existing == ["t::old"]
    v = judge(CMDS, check(1, "t::old"), check(1, "t::old"))
    assert v.verified and v.pre_existing == ["t::old"]
    assert not judge(CMDS, check(0), check(1)).verified  # no ids: the exit code decides
    assert not judge(CMDS, check(1), check(1)).verified  # cannot tell: not verified
    assert not judge(CMDS, check(0), check(None)).verified  # time limit
    assert "setup" in judge(CMDS, check(0), check(SETUP_FAILED)).reason


def test_the_script_separates_setup_failure_from_test_failure() -> None:
    def run(cmds: Commands) -> int:
        return subprocess.run(
            ["sh", "-c", script(cmds)], capture_output=True, timeout=30, check=False
        ).returncode

    assert run(Commands(["true"], ["true", "true"], "x")) == 0
    assert run(Commands(["true"], ["false", "true"], "x")) == 1
    assert run(Commands(["false"], ["true"], "x")) == SETUP_FAILED
