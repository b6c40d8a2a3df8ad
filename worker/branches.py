"""The agent's branches: one prefix, defined here only."""

AGENT_BRANCH_PREFIX = "burndown/"


def issue_branch(number: int, harness: str | None = None) -> str:
    """`burndown/issue-<n>`; `burndown/issue-<n>-<harness>` for one run of a comparison."""
    return f"{AGENT_BRANCH_PREFIX}issue-{number}" + (f"-{harness}" if harness else "")


def is_agent_branch(ref: str) -> bool:
    """True for a branch the agent pushes to."""
    return ref.startswith(AGENT_BRANCH_PREFIX)
