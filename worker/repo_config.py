"""Per-repository configuration: `.burndown.yml` at the root of the default branch.

Read from the base commit (what maintainers merged), never from the agent's working tree.
Every field is optional; the operator's settings give defaults and maxima, and the file can
only tighten them (see `worker.run_plan`): sizes must be positive (Docker reads 0 as "no
limit"), limits and budgets are the smaller of the two, its system prompt is appended.
"""

import re
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbox.egress_proxy import parse_rule
from sandbox.images.toolchains import TOOLCHAINS
from worker.errors import ConfigError

CONFIG_FILE = ".burndown.yml"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def size_bytes(text: str) -> int:
    """`512m`, `4g`, `1.5G` -> bytes; `ConfigError` for anything else."""
    m = _SIZE.match(text)
    if not m:
        raise ConfigError(f"{text!r} is not a size like 512m or 4g")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _positive_size(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        n = size_bytes(text)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    if n <= 0:
        raise ValueError(f"{text!r} must be a positive size (0 would mean no limit)")
    return text


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

    @field_validator("memory", "tmpfs_size", mode="before")
    @classmethod
    def _sizes(cls, size: object) -> object:
        if isinstance(size, int | float) and not isinstance(size, bool):
            size = str(size)  # YAML reads `memory: 0` as a number: bytes
        return _positive_size(size) if isinstance(size, str) else size

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
    toolchain: str | None = None
    """`python`, `node`, `go` or `rust`: the image the agent and the tests run in; unset:
    detected from the repository's files."""
    image: str | None = None
    """An image of the operator's to run in instead of a toolchain image."""
    setup: list[str] = Field(default_factory=list)
    test: list[str] = Field(default_factory=list)
    package_hosts: list[str] = Field(default_factory=list)
    """Hosts the setup may reach; only those the operator's package hosts cover."""
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)

    @field_validator("package_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        return [str(parse_rule(h)) for h in hosts]

    @field_validator("toolchain")
    @classmethod
    def _toolchain(cls, name: str | None) -> str | None:
        if name is not None and name not in TOOLCHAINS:
            raise ValueError(f"unknown toolchain {name!r}; valid: {', '.join(sorted(TOOLCHAINS))}")
        return name


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
    for key in ("setup", "test", "package_hosts"):
        if isinstance(data.get(key), str):
            data[key] = [data[key]]
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{CONFIG_FILE} is invalid: {problems}") from None
