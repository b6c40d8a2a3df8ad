"""The diff policy: what a change may not do before anything is pushed.

Rules: limits on files and lines changed, forbidden paths, no large binaries, and no secrets in
added lines. A violation names its rule and where, so the issue comment can say so.
"""

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field

from worker.git import FileStat

DEFAULT_FORBIDDEN = (
    ".github/workflows/**",
    "**/.env",
    "**/.env.*",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/id_rsa*",
    "**/id_ed25519*",
    "**/.npmrc",
    "**/.pypirc",
    "**/credentials*.json",
)

SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "GitHub token": re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "AWS access key": re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Anthropic key": re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    "OpenAI key": re.compile(r"\bsk-(proj-)?[A-Za-z0-9]{32,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
}


class DiffPolicy(BaseModel):
    """The limits a change must keep; operators set them, repositories may tighten them."""

    model_config = ConfigDict(extra="forbid")

    max_files: int = Field(100, gt=0)
    max_lines: int = Field(5000, gt=0)
    max_binary_bytes: int = Field(1024 * 1024, ge=0)
    forbidden_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_FORBIDDEN))


@dataclass(frozen=True)
class Violation:
    """One broken rule, and where."""

    rule: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule} at `{self.where}`: {self.detail}"


def _matches(path: str, pattern: str) -> bool:
    if fnmatchcase(path, pattern):
        return True
    # `**/x` also matches `x` at the root; `dir/**` matches everything below dir.
    if pattern.startswith("**/") and fnmatchcase(path, pattern[3:]):
        return True
    return pattern.endswith("/**") and path.startswith(pattern[:-2])


def check_diff(
    stats: list[FileStat], added: list[tuple[str, int, str]], policy: DiffPolicy
) -> list[Violation]:
    """Every violation of `policy` by a change; empty when the change may be pushed."""
    found: list[Violation] = []
    if len(stats) > policy.max_files:
        found.append(
            Violation("too many files", f"{len(stats)} files", f"the limit is {policy.max_files}")
        )
    lines = sum((s.added or 0) + (s.removed or 0) for s in stats)
    if lines > policy.max_lines:
        found.append(
            Violation(
                "too many lines", f"{lines} lines changed", f"the limit is {policy.max_lines}"
            )
        )
    for s in stats:
        hit = next((p for p in policy.forbidden_paths if _matches(s.path, p)), None)
        if hit:
            found.append(Violation("forbidden path", s.path, f"matches `{hit}`"))
        if s.added is None and s.size is not None and s.size > policy.max_binary_bytes:
            found.append(
                Violation(
                    "large binary",
                    s.path,
                    f"{s.size} bytes; the limit is {policy.max_binary_bytes}",
                )
            )
    for path, n, text in added:
        for name, pattern in SECRET_PATTERNS.items():
            if pattern.search(text):
                found.append(
                    Violation("secret in added line", f"{path}:{n}", f"looks like a {name}")
                )
    return found
