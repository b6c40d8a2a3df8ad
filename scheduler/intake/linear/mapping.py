"""Which GitHub repository a Linear issue's work goes to: a `repo: owner/name` line in its
description, else its team and one of its labels (`"ENG/api"`), else its team (`"ENG"`), as
`BURNDOWN_LINEAR_REPOS` maps them."""

import re

from worker.linear.protocol import LinearIssue

REPO_LINE = re.compile(r"^\s*repo:\s*`?([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)`?\s*$", re.I | re.M)


def repo_for(issue: LinearIssue, mapping: dict[str, str]) -> str | None:
    """The repository of `issue`, or None when nothing maps it."""
    line = REPO_LINE.search(issue.description or "")
    if line:
        return line.group(1).removesuffix(".git")
    folded = {k.lower(): v for k, v in mapping.items()}
    for label in issue.labels:
        found = folded.get(f"{issue.team.key}/{label}".lower())
        if found:
            return found
    return folded.get(issue.team.key.lower())
