"""Verification, independent of the agent: the repository's setup and test commands run in a
fresh sandbox on the base commit and on the agent's result, and the failures are compared.

Tests failing only after the change are "newly failing" (not verified); tests failing before
and after are pre-existing and reported as such. Test ids come from the runners' own summary
lines (pytest, go test, cargo test, node's runner); a runner we cannot read is judged by its
exit code alone.
"""

import re
import shlex
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.runtime import ContainerRuntime, ContainerSpec, EgressEvent, Mount, SandboxPolicy
from worker.git import Checkout

SETUP_FAILED = 97
_FAILURE_LINES = [
    re.compile(r"^(?:FAILED|ERROR) (\S+)"),  # pytest short summary
    re.compile(r"^--- FAIL: (\S+)"),  # go test
    re.compile(r"^test (\S+) \.\.\. FAILED$"),  # cargo test
    re.compile(r"^not ok \d+ - (.+)$"),  # TAP: node --test, prove
]


_PYTEST_SUMMARY = re.compile(r"^=*\s*((?:\d+ [a-z]+(?:, )?)+) in [\d.]+s")
_PYTEST_PART = re.compile(r"(\d+) ([a-z]+)")
_PYTEST_NAMES = {"error": "errors", "warning": "warnings", "xfailed": "xfailed"}
_CARGO_SUMMARY = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored")
_TAP_COUNT = re.compile(r"^# (pass|fail|skipped) (\d+)$")


def counts_in(line: str) -> dict[str, int]:
    """Test counts a runner's summary line gives (pytest, cargo test, node's TAP), if any:
    `{"passed": 200, "failed": 1}`."""
    text = line.strip()
    if m := _PYTEST_SUMMARY.match(text):
        return {
            _PYTEST_NAMES.get(name, name): int(n) for n, name in _PYTEST_PART.findall(m.group(1))
        }
    if m := _CARGO_SUMMARY.match(text):
        return {"passed": int(m.group(1)), "failed": int(m.group(2)), "skipped": int(m.group(3))}
    if m := _TAP_COUNT.match(text):
        name = {"pass": "passed", "fail": "failed"}.get(m.group(1), m.group(1))
        return {name: int(m.group(2))}
    return {}


@dataclass(frozen=True)
class Commands:
    """What verification runs, and where it came from."""

    setup: list[str]
    test: list[str]
    source: str  # ".burndown.yml", "detected: pytest", ... or "none"


def detect_commands(co: Checkout, setup: list[str], test: list[str]) -> Commands:
    """The configured commands, or ones detected from the base commit's files."""
    if test:
        return Commands(setup, test, ".burndown.yml")
    has = co.read_base_file
    if (
        has("pyproject.toml") is not None
        or has("pytest.ini") is not None
        or has("setup.cfg") is not None
        or has("setup.py") is not None
    ):
        return Commands(setup, ["python3 -m pytest -q -rfE"], "detected: pytest")
    pkg = has("package.json")
    if pkg is not None and '"test"' in pkg:
        return Commands(setup or ["npm ci --ignore-scripts"], ["npm test"], "detected: npm test")
    if has("go.mod") is not None:
        return Commands(setup, ["go test ./..."], "detected: go test")
    if has("Cargo.toml") is not None:
        return Commands(setup, ["cargo test"], "detected: cargo test")
    return Commands(setup, [], "none")


def failures_in(output: str) -> set[str]:
    found: set[str] = set()
    for line in output.splitlines():
        for pattern in _FAILURE_LINES:
            m = pattern.match(line.strip())
            if m:
                found.add(m.group(1))
    return found


@dataclass(frozen=True)
class Check:
    """The commands' result on one commit."""

    sha: str
    exit_code: int | None
    failures: set[str]
    tail: str
    egress: list[EgressEvent] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    """Test counts from the runners' summaries, summed (`passed`, `failed`, ...)."""

    @property
    def setup_failed(self) -> bool:
        return self.exit_code == SETUP_FAILED

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class Verification:
    """The verdict, and what it rests on."""

    commands: Commands
    verified: bool
    reason: str
    base: Check | None = None
    head: Check | None = None
    newly_failing: list[str] = field(default_factory=list)
    pre_existing: list[str] = field(default_factory=list)


def script(cmds: Commands) -> str:
    """The shell script of a check: each command in a subshell of its own lines, so that a
    trailing `# comment` ends at its line instead of swallowing the closing parenthesis."""
    setup = "".join(f"(\n{c}\n) || exit {SETUP_FAILED}\n" for c in cmds.setup)
    tests = "".join(f"echo {shlex.quote('$ ' + c)}\n(\n{c}\n) || rc=1\n" for c in cmds.test)
    return f"rc=0\n{setup}{tests}exit $rc\n"


TAIL_CHARS = 3000
MAX_FAILURES = 1000
"""Test ids kept per check; a flood of failures beyond this is not held in memory."""


class _Reader:
    """Reads a check's output as it streams, in bounded memory: the failing test ids (at most
    `MAX_FAILURES`) and the last `TAIL_CHARS` characters."""

    def __init__(self) -> None:
        self.failures: set[str] = set()
        self.counts: Counter[str] = Counter()
        self._tail: deque[str] = deque()
        self._tail_len = 0

    def __call__(self, line: str) -> None:
        if len(self.failures) < MAX_FAILURES:
            self.failures |= failures_in(line)
        self.counts.update(counts_in(line))
        self._tail.append(line)
        self._tail_len += len(line) + 1
        while self._tail_len - len(self._tail[0]) - 1 >= TAIL_CHARS:
            self._tail_len -= len(self._tail.popleft()) + 1

    @property
    def tail(self) -> str:
        return "\n".join(self._tail)[-TAIL_CHARS:]


def run_check(runtime: ContainerRuntime, spec: ContainerSpec, sha: str) -> Check:
    reader = _Reader()
    exit_ = runtime.run(spec, reader)
    code = exit_.exit_code if not (exit_.timed_out or exit_.idle_timed_out) else None
    return Check(
        sha=sha,
        exit_code=code,
        failures=reader.failures,
        tail=reader.tail,
        egress=exit_.egress,
        counts=dict(reader.counts),
    )


def verify(
    runtime: ContainerRuntime,
    co: Checkout,
    base_sha: str,
    head_sha: str,
    commands: Commands,
    *,
    image: str,
    policy: SandboxPolicy,
    user: str,
    labels: dict[str, str],
    scratch: Path,
) -> Verification:
    """Run `commands` on `base_sha` and on `head_sha`, each in a fresh sandbox."""
    if not commands.test:
        return Verification(commands, False, "no test command is configured or detected")
    checks: dict[str, Check] = {}
    for name, sha in (("base", base_sha), ("head", head_sha)):
        tree = co.export(sha, scratch / name)
        co.give_to(tree, user)
        spec = ContainerSpec(
            image=image,
            command=["sh", "-c", script(commands)],
            user=user,
            mounts=[Mount(source=tree, target="/workspace")],
            labels=labels,
            policy=policy,
        )
        checks[name] = run_check(runtime, spec, sha)
    return judge(commands, checks["base"], checks["head"])


def judge(commands: Commands, base: Check, head: Check) -> Verification:
    """Compare base and head results."""
    if head.exit_code is None:
        return Verification(commands, False, "the tests hit the time limit", base, head)
    if head.setup_failed:
        return Verification(commands, False, "the setup commands failed on the change", base, head)
    new = sorted(head.failures - base.failures)
    old = sorted(head.failures & base.failures)
    if head.passed:
        return Verification(commands, True, "all tests pass", base, head, [], [])
    if new:
        return Verification(
            commands, False, f"{len(new)} tests fail only after the change", base, head, new, old
        )
    if base.passed:  # failing now, passing before, and no test id to tell which
        return Verification(
            commands,
            False,
            "the tests pass on the base commit and fail after the change",
            base,
            head,
            ["(exit code)"],
            [],
        )
    if old and head.failures <= base.failures:
        return Verification(
            commands, True, "no test fails that did not fail before", base, head, [], old
        )
    return Verification(
        commands,
        False,
        "the tests fail before and after the change and their output names no tests to compare",
        base,
        head,
        [],
        [],
    )
