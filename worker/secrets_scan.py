"""One scanner for secrets in any text Burndown lets out: the change's files and names, and
every outgoing text (pull request title and body, comments, commit messages, the agent's
summary).

Two kinds of finding: text that looks like a well-known key (patterns), and the exact values
of the secrets Burndown itself holds (model keys, tokens, the webhook secret), wherever they
appear. A finding names what it found, never the text itself.
"""

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PATTERNS: dict[str, re.Pattern[str]] = {
    "GitHub token": re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "AWS access key": re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Anthropic key": re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    "OpenAI key": re.compile(r"\bsk-(proj-)?[A-Za-z0-9]{32,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
}

REDACTED = "***"
MIN_VALUE_LENGTH = 8
"""Shorter held values are not matched exactly (they would match ordinary text)."""


@dataclass(frozen=True)
class Finding:
    """One secret in a text: what it is and where (offset, 1-based line); never its value."""

    what: str
    offset: int
    line: int
    _value: str = field(repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.what} on line {self.line}"


class SecretScanner:
    """Finds secret-looking text and the exact values of the secrets given to it."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = {
            name: value
            for name, value in (values or {}).items()
            if len(value.strip()) >= MIN_VALUE_LENGTH
        }

    def scan(self, text: str) -> list[Finding]:
        """Every secret in `text`, in order of appearance."""
        found: list[Finding] = []
        for name, pattern in PATTERNS.items():
            for m in pattern.finditer(text):
                what = f"looks like {'an' if name[0] in 'AEIOU' else 'a'} {name}"
                found.append(_finding(text, what, m.start(), m.group(0)))
        for setting, value in self._values.items():
            at = text.find(value)
            while at >= 0:
                found.append(_finding(text, f"holds the value of {setting}", at, value))
                at = text.find(value, at + 1)
        return sorted(found, key=lambda f: f.offset)

    def new_in(self, old: str, new: str) -> list[Finding]:
        """The secrets of `new` that `old` did not already hold (as many times)."""
        before = Counter(f._value for f in self.scan(old))
        fresh: list[Finding] = []
        for f in self.scan(new):
            if before[f._value] > 0:
                before[f._value] -= 1
            else:
                fresh.append(f)
        return fresh

    def redact(self, text: str) -> str:
        """`text` with every held secret value replaced by `***` (longest first, so a value
        holding another is cut whole). Patterns are left: this is for texts Burndown stores
        and shows, where the exact values are what must never appear."""
        for value in sorted(self._values.values(), key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text

    def redact_data(self, data: Any) -> Any:
        """`data` (JSON-like: dicts, lists, strings, numbers) with `redact` applied to every
        string in it, keys included."""
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, dict):
            return {self.redact_data(k): self.redact_data(v) for k, v in data.items()}
        if isinstance(data, list | tuple):
            return [self.redact_data(v) for v in data]
        return data

    def first(self, text: str) -> Finding | None:
        """The first secret in `text`, or None when it may go out."""
        found = self.scan(text)
        return found[0] if found else None


def _finding(text: str, what: str, offset: int, value: str) -> Finding:
    return Finding(what, offset, text.count("\n", 0, offset) + 1, value)
