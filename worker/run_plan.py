"""What one run will do: which harness, with which options, under which sandbox policy.

Operator settings give defaults and maxima; `.burndown.yml` may choose within them. The harness
is, first match wins: an explicit override (the CLI's `--harness`), the ticket's choice (a label
`<trigger>:<harness>`, e.g. `burndown:codex`, else a line `burndown: <harness>` or
`harness: <harness>` alone in the issue body), `.burndown.yml`'s `harness`, the settings' default.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sandbox.egress_proxy import parse_rule, rule_for_url
from sandbox.errors import HarnessError
from sandbox.harness.access import ModelEndpoints
from sandbox.harness.protocol import Harness, HarnessOptions
from sandbox.harness.registry import get_harness, harness_names
from sandbox.runtime import SandboxPolicy
from worker.diff_policy import DiffPolicy
from worker.errors import ConfigError
from worker.repo_config import RepoConfig, size_bytes

_BODY_LINE = re.compile(
    r"^[ \t]*(?:burndown|harness)[ \t]*:[ \t]*`?([\w.-]+)`?[ \t]*$", re.I | re.M
)


@dataclass(frozen=True)
class TicketChoice:
    """The harness a ticket asks for, and where it said so (for error messages)."""

    harness: str
    source: str


def harness_label(label: str, trigger_label: str) -> str | None:
    """`burndown:codex` -> `codex` (with trigger label `burndown`); None for other labels."""
    prefix = f"{trigger_label}:"
    if label.lower().startswith(prefix.lower()):
        return label[len(prefix) :].strip() or None
    return None


def ticket_choice(labels: Iterable[str], body: str, trigger_label: str) -> TicketChoice | None:
    """The ticket's harness choice: a harness label, else a body line; `ConfigError` when
    labels or lines disagree, `HarnessError` (listing the valid names) for an unknown name."""
    from_labels = {h: lb for lb in labels if (h := harness_label(lb, trigger_label))}
    from_body = {m.group(1): m.group(0).strip() for m in _BODY_LINE.finditer(body or "")}
    for found, what in ((from_labels, "labels"), (from_body, "lines in the issue body")):
        if len(found) > 1:
            raise ConfigError(
                f"the issue's {what} name several harnesses ({', '.join(sorted(found.values()))}); "
                f"keep one. Valid harnesses: {', '.join(harness_names())}"
            )
    if from_labels:
        ((name, label),) = from_labels.items()
        choice = TicketChoice(name, f"label {label!r}")
    elif from_body:
        ((name, line),) = from_body.items()
        choice = TicketChoice(name, f"issue body line {line!r}")
    else:
        return None
    if choice.harness not in harness_names():
        raise HarnessError(
            f"the {choice.source} names an unknown harness {choice.harness!r}; "
            f"valid: {', '.join(harness_names())}"
        )
    return choice


@dataclass(frozen=True)
class ReviewerPlan:
    """The reviewer of a run's change: its harness and options."""

    harness: Harness
    options: HarnessOptions


@dataclass(frozen=True)
class RunPlan:
    """The resolved choices of one run."""

    harness: Harness
    options: HarnessOptions
    policy: SandboxPolicy
    repo: RepoConfig
    refused_hosts: tuple[str, ...] = ()
    """Hosts the repository asked for that the operator does not allow."""
    source: str = "default"
    """Where the harness choice came from: override, label or body line, .burndown.yml, default."""
    tool_hosts: tuple[str, ...] = ()
    """The allowed hosts but the model endpoint: what the repository's own setup and tests may
    reach (none: verification runs with no network at all)."""
    diff_policy: DiffPolicy = field(default_factory=DiffPolicy)
    """The operator's diff policy, tightened by the repository's."""
    reviewer: ReviewerPlan | None = None
    """Who reviews the change before it is pushed; None: no review."""


def plan_run(
    *,
    default_harness: str,
    default_options: HarnessOptions,
    max_policy: SandboxPolicy,
    repo: RepoConfig,
    override: str | None = None,
    ticket: TicketChoice | None = None,
    harness_models: Mapping[str, str] | None = None,
    models: ModelEndpoints | None = None,
    repo_allowable: Sequence[str] = (),
    max_diff: DiffPolicy | None = None,
    review: bool = False,
    review_harness: str | None = None,
) -> RunPlan:
    """Resolve a run's harness, options and policy; `HarnessError` for an unknown harness.

    The harness: the override, else the ticket's label or body line, else `.burndown.yml`,
    else the default. The model: `.burndown.yml`'s when it names no harness or this one, else
    the operator's model for this harness (`harness_models`), else the operator's default.
    The sandbox may reach the model endpoint this harness is given (else its default), the
    hosts in `max_policy.allow_hosts`, and those of the repository's `allow_hosts` that some
    entry of `repo_allowable` covers. The diff policy is `max_diff` tightened by the
    repository's; the reviewer is chosen by `reviewer_for`."""
    if override:
        name, source = override, "override"
    elif ticket:
        name, source = ticket.harness, ticket.source
    elif repo.harness:
        name, source = repo.harness, ".burndown.yml"
    else:
        name, source = default_harness, "default"
    harness = get_harness(name)
    model = (harness_models or {}).get(name) or default_options.model
    if repo.model and repo.harness in (None, name):
        model = repo.model
    options = tightened(default_options, repo).model_copy(update={"model": model})
    model_url = models.access_for(harness).base_url if models else None
    try:
        endpoint = rule_for_url(model_url or harness.default_base_url)
    except ValueError as exc:
        raise ConfigError(f"the model endpoint: {exc}") from None
    allowed, refused = allowed_repo_hosts(repo.sandbox.allow_hosts, repo_allowable)
    policy = SandboxPolicy.model_validate(
        {
            **clamp(max_policy, repo).model_dump(),
            "allow_hosts": (str(endpoint), *max_policy.allow_hosts, *allowed),
        }
    )
    return RunPlan(
        harness=harness,
        options=options,
        policy=policy,
        repo=repo,
        refused_hosts=refused,
        source=source,
        tool_hosts=(*max_policy.allow_hosts, *allowed),
        diff_policy=tighten_diff(max_diff or DiffPolicy(), repo),
        reviewer=reviewer_for(
            repo, harness, options, enabled=review, name=review_harness, models=harness_models
        ),
    )


def tighten_diff(maximum: DiffPolicy, repo: RepoConfig) -> DiffPolicy:
    """The operator's diff policy with the repository's limits where they are lower and its
    forbidden paths added."""
    rp = repo.policy
    return maximum.model_copy(
        update={
            "max_files": min(rp.max_files or maximum.max_files, maximum.max_files),
            "max_lines": min(rp.max_lines or maximum.max_lines, maximum.max_lines),
            "forbidden_paths": [*maximum.forbidden_paths, *rp.forbidden_paths],
        }
    )


def tightened(operator: HarnessOptions, repo: RepoConfig) -> HarnessOptions:
    """The operator's options as `.burndown.yml` may only tighten them: the smaller turn limit
    and budget, the repository's system prompt after the operator's, tools allowed by both,
    tools disallowed by either."""
    allowed = operator.allowed_tools
    if repo.allowed_tools:
        allowed = [t for t in repo.allowed_tools if not allowed or t in allowed]
        if not allowed:  # an empty list would mean "every tool"
            raise ConfigError(
                f"allowed_tools in .burndown.yml: none of {repo.allowed_tools} is allowed by "
                f"the operator ({', '.join(operator.allowed_tools)})"
            )
    prompts = [p for p in (operator.extra_system_prompt, repo.system_prompt) if p]
    return operator.model_copy(
        update={
            "max_turns": _least(operator.max_turns, repo.max_turns),
            "max_budget_usd": _least(operator.max_budget_usd, repo.max_budget_usd),
            "extra_system_prompt": "\n\n".join(prompts) or None,
            "allowed_tools": allowed,
            "disallowed_tools": list(
                dict.fromkeys([*operator.disallowed_tools, *repo.disallowed_tools])
            ),
        }
    )


def reviewer_for(
    repo: RepoConfig,
    agent: Harness,
    agent_options: HarnessOptions,
    *,
    enabled: bool,
    name: str | None,
    models: Mapping[str, str] | None,
) -> ReviewerPlan | None:
    """The reviewer, when the operator or the repository turns review on (a repository may
    turn it on, never off): the repository's harness, else the operator's, else the agent's."""
    if not (enabled or repo.review.enabled):
        return None
    chosen = repo.review.harness or name or agent.name
    if chosen == agent.name:
        return ReviewerPlan(agent, agent_options)
    # The agent's options suit the agent's harness; another reviewer gets only its model.
    return ReviewerPlan(get_harness(chosen), HarnessOptions(model=(models or {}).get(chosen)))


_N = TypeVar("_N", int, float)


def _least(a: _N | None, b: _N | None) -> _N | None:
    return b if a is None else a if b is None else min(a, b)


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
