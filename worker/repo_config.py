"""Per-repository configuration: `.burndown.yml` at the root of the default branch.

Read from the base commit (what maintainers merged), never from the agent's working tree.
Every field is optional; the operator's settings give defaults and maxima.
"""

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbox.egress_proxy import parse_rule
from worker.errors import ConfigError

CONFIG_FILE = ".burndown.yml"


class SandboxConfig(BaseModel):
    """What a repository asks of its sandbox; clamped to the operator's maxima."""

    model_config = ConfigDict(extra="forbid")

    memory: str | None = None
    cpus: float | None = Field(None, gt=0)
    pids: int | None = Field(None, gt=0)
    tmpfs_size: str | None = None
    timeout_seconds: float | None = Field(None, gt=0)
    idle_timeout_seconds: float | None = Field(None, gt=0)
    allow_hosts: list[str] = Field(default_factory=list)

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        return [str(parse_rule(h)) for h in hosts]  # ValueError says which entry is wrong


class PolicyConfig(BaseModel):
    """Diff limits a repository may tighten, and paths it adds to the forbidden ones."""

    model_config = ConfigDict(extra="forbid")

    max_files: int | None = Field(None, gt=0)
    max_lines: int | None = Field(None, gt=0)
    forbidden_paths: list[str] = Field(default_factory=list)


class ReviewConfig(BaseModel):
    """Whether a reviewer harness looks at the change before it is pushed."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    harness: str | None = None


class RepoConfig(BaseModel):
    """The whole `.burndown.yml`."""

    model_config = ConfigDict(extra="forbid")

    harness: str | None = None
    model: str | None = None
    max_turns: int | None = Field(None, gt=0)
    max_budget_usd: float | None = Field(None, gt=0)
    system_prompt: str | None = None
    allowed_tools: list[str] = Field(default_factory=list)
    disallowed_tools: list[str] = Field(default_factory=list)
    setup: list[str] = Field(default_factory=list)
    test: list[str] = Field(default_factory=list)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)


def parse_repo_config(text: str | None) -> RepoConfig:
    """The configuration in `text` (None or empty: all defaults); `ConfigError` saying which
    fields are wrong and why."""
    if not text or not text.strip():
        return RepoConfig()
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{CONFIG_FILE} is not valid YAML: {exc}") from None
    if data is None:
        return RepoConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{CONFIG_FILE} must be a mapping of settings, not {type(data).__name__}")
    for key in ("setup", "test"):
        if isinstance(data.get(key), str):
            data[key] = [data[key]]
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{CONFIG_FILE} is invalid: {problems}") from None
