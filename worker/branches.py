"""The agent's branches: one prefix, defined here only."""

AGENT_BRANCH_PREFIX = "burndown/"


def issue_branch(issue: int | str, harness: str | None = None) -> str:
    """`burndown/issue-<n>` for a GitHub issue, `burndown/eng-123` for a tracker's key;
    `...-<harness>` for one run of a comparison."""
    stem = f"issue-{issue}" if isinstance(issue, int) else issue.lower()
    return f"{AGENT_BRANCH_PREFIX}{stem}" + (f"-{harness}" if harness else "")


def is_agent_branch(ref: str) -> bool:
    """True for a branch the agent pushes to."""
    return ref.startswith(AGENT_BRANCH_PREFIX)
