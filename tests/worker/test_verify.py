"""Verification verdicts from base and head results, and test ids from runners' output."""

import subprocess

import pytest

from worker.verify import SETUP_FAILED, Check, Commands, counts_in, failures_in, judge, script

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


def test_a_trailing_comment_ends_at_its_line() -> None:
    """It used to swallow the closing parenthesis: `( true # c ) || exit 97` is a syntax
    error, so every check of such a repository failed before running a test."""
    cmds = Commands(["true  # nothing to set up"], ["echo ran # the tests", "false # fails"], "x")
    done = subprocess.run(
        ["sh", "-c", script(cmds)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 1 and "ran\n" in done.stdout and "Syntax" not in done.stderr


@pytest.mark.parametrize(
    ("line", "counts"),
    [
        (
            "184 passed, 16 skipped, 2 warnings in 1.34s",
            {"passed": 184, "skipped": 16, "warnings": 2},
        ),
        ("===== 1 failed, 179 passed in 4.37s =====", {"failed": 1, "passed": 179}),
        ("1 failed, 1 error in 0.20s", {"failed": 1, "errors": 1}),
        (
            "test result: FAILED. 5 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out",
            {"passed": 5, "failed": 1, "skipped": 2},
        ),
        ("# pass 3", {"passed": 3}),
        ("collected 3 items", {}),
    ],
)
def test_runners_summaries_give_test_counts(line: str, counts: dict[str, int]) -> None:
    assert counts_in(line) == counts
