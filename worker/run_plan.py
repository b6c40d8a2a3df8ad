"""What one run will do: which harness, with which options, under which sandbox policy.

Operator settings give defaults and maxima; `.burndown.yml` may choose within them; an
explicit override (the CLI's `--harness`) wins over both.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.egress_proxy import parse_rule, rule_for_url
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
    refused_hosts: tuple[str, ...] = ()
    """Hosts the repository asked for that the operator does not allow."""


def plan_run(
    *,
    default_harness: str,
    default_options: HarnessOptions,
    max_policy: SandboxPolicy,
    repo: RepoConfig,
    override: str | None = None,
    model_url: str | None = None,
    repo_allowable: Sequence[str] = (),
) -> RunPlan:
    """Resolve a run's harness, options and policy; `HarnessError` for an unknown harness.

    The sandbox may reach the model endpoint (`model_url`, else the harness's default), the
    hosts in `max_policy.allow_hosts`, and those of the repository's `allow_hosts` that some
    entry of `repo_allowable` covers."""
    harness = get_harness(override or repo.harness or default_harness)
    options = default_options.model_copy(
        update={
            k: v
            for k, v in {"model": repo.model, "max_turns": repo.max_turns}.items()
            if v is not None
        }
    )
    try:
        model = rule_for_url(model_url or harness.default_base_url)
    except ValueError as exc:
        raise ConfigError(f"the model endpoint: {exc}") from None
    allowed, refused = allowed_repo_hosts(repo.sandbox.allow_hosts, repo_allowable)
    policy = SandboxPolicy.model_validate(
        {
            **clamp(max_policy, repo).model_dump(),
            "allow_hosts": (str(model), *max_policy.allow_hosts, *allowed),
        }
    )
    return RunPlan(
        harness=harness, options=options, policy=policy, repo=repo, refused_hosts=refused
    )


def allowed_repo_hosts(
    asked: Sequence[str], allowable: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a repository's `allow_hosts` into those the operator's patterns cover and the rest."""
    limits = [parse_rule(a) for a in allowable]
    ok: list[str] = []
    refused: list[str] = []
    for host in asked:
        rule = parse_rule(host)
        (ok if any(limit.covers(rule) for limit in limits) else refused).append(str(rule))
    return tuple(ok), tuple(refused)


def clamp(maximum: SandboxPolicy, repo: RepoConfig) -> SandboxPolicy:
    """The repository's sandbox wishes, never above the operator's maxima."""
    s = repo.sandbox
    return maximum.model_copy(
        update={
            "memory": _smaller(s.memory, maximum.memory),
            "cpus": min(s.cpus, maximum.cpus) if s.cpus else maximum.cpus,
            "pids": min(s.pids, maximum.pids) if s.pids else maximum.pids,
            "tmpfs_size": _smaller(s.tmpfs_size, maximum.tmpfs_size),
            "idle_timeout_seconds": (
                min(s.idle_timeout_seconds, maximum.idle_timeout_seconds)
                if s.idle_timeout_seconds
                else maximum.idle_timeout_seconds
            ),
            "timeout_seconds": (
                min(s.timeout_seconds, maximum.timeout_seconds)
                if s.timeout_seconds
                else maximum.timeout_seconds
            ),
        }
    )


def _smaller(wish: str | None, maximum: str) -> str:
    return wish if wish and size_bytes(wish) < size_bytes(maximum) else maximum
