"""The live status of a ticket: one issue comment, edited in place at every stage (queued,
running, verifying, the pull request or why there is none), and a reaction at intake.

Best effort: the status informs people, so a GitHub error here is logged, never fatal.
"""

from worker.errors import GitHubError
from worker.github.protocol import GitHubClient
from worker.logs import get_logger

log = get_logger(__name__)

INTAKE_REACTION = "eyes"


def status_key(ticket_id: int) -> str:
    """The key of the ticket's status comment (one per ticket, across its runs)."""
    return f"status-{ticket_id}"


def show(github: GitHubClient, repo: str, number: int, ticket_id: int, body: str) -> None:
    """Write the ticket's status comment (created once, then edited)."""
    try:
        github.set_status(repo, number, status_key(ticket_id), body)
    except GitHubError as exc:
        log.warning("status comment not written", repo=repo, number=number, error=str(exc))


def acknowledge(github: GitHubClient, repo: str, number: int) -> None:
    """React to the issue at intake: people see at once that Burndown took it."""
    try:
        github.react(repo, number, INTAKE_REACTION)
    except GitHubError as exc:
        log.warning("reaction not added", repo=repo, number=number, error=str(exc))
