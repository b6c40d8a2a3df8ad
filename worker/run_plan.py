"""What one run will do: which harness, with which options, under which sandbox policy.

Operator settings give defaults and maxima; `.burndown.yml` may choose within them; an
explicit override (the CLI's `--harness`) wins over both.
"""

import re
from dataclasses import dataclass

from sandbox.harness.base import Harness, HarnessOptions, get_harness
from sandbox.runtime import SandboxPolicy
from worker.errors import ConfigError
from worker.repo_config import RepoConfig

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def size_bytes(text: str) -> int:
    """`512m`, `4g`, `1.5G` -> bytes; `ConfigError` for anything else."""
    m = _SIZE.match(text)
    if not m:
        raise ConfigError(f"{text!r} is not a size like 512m or 4g")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True)
class RunPlan:
    """The resolved choices of one run."""

    harness: Harness
    options: HarnessOptions
    policy: SandboxPolicy
    repo: RepoConfig


def plan_run(
    *,
    default_harness: str,
    default_options: HarnessOptions,
    max_policy: SandboxPolicy,
    repo: RepoConfig,
    override: str | None = None,
) -> RunPlan:
    """Resolve a run's harness, options and policy; `HarnessError` for an unknown harness."""
    harness = get_harness(override or repo.harness or default_harness)
    options = default_options.model_copy(
        update={
            k: v
            for k, v in {"model": repo.model, "max_turns": repo.max_turns}.items()
            if v is not None
        }
    )
    return RunPlan(harness=harness, options=options, policy=clamp(max_policy, repo), repo=repo)


def clamp(maximum: SandboxPolicy, repo: RepoConfig) -> SandboxPolicy:
    """The repository's sandbox wishes, never above the operator's maxima."""
    s = repo.sandbox
    memory = maximum.memory
    if s.memory and size_bytes(s.memory) < size_bytes(maximum.memory):
        memory = s.memory
    return maximum.model_copy(
        update={
            "memory": memory,
            "cpus": min(s.cpus, maximum.cpus) if s.cpus else maximum.cpus,
            "pids": min(s.pids, maximum.pids) if s.pids else maximum.pids,
            "timeout_seconds": (
                min(s.timeout_seconds, maximum.timeout_seconds)
                if s.timeout_seconds
                else maximum.timeout_seconds
            ),
        }
    )
