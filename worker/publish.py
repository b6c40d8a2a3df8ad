"""The pull request: opened once per ticket, updated by follow-ups, its body the run's record.

Endings: a ready pull request (verified), a draft (not verified, or the reviewer doubts), or
no pull request and a comment on the issue saying why (see the pipeline).
"""

from collections.abc import Callable

from sandbox.errors import BurndownError
from worker import texts
from worker.errors import GitHubError
from worker.github.protocol import GitHubClient, PullRequest
from worker.logs import get_logger
from worker.secrets_scan import SecretScanner
from worker.store.models import Run, Ticket
from worker.texts import pr_title

log = get_logger(__name__)


def open_or_update(
    github: GitHubClient,
    ticket: Ticket,
    run: Run,
    *,
    base: str,
    body: str,
    draft: bool,
    label: str,
) -> tuple[PullRequest, bool]:
    """The ticket's one pull request: the open one for its branch updated, or a new one.
    Returns the pull request and whether it already existed."""
    existing = github.find_open_pull(ticket.repo, run.branch)
    if existing is not None:
        return github.update_pull(ticket.repo, existing.number, body=body), True

    def create() -> PullRequest:
        return github.open_pull(
            ticket.repo, head=run.branch, base=base, title=pr_title(ticket), body=body, draft=draft
        )

    try:
        pr = create()
    except GitHubError:
        # The create may have happened with its answer lost: look before creating again.
        found = github.find_open_pull(ticket.repo, run.branch)
        if found is not None:
            return found, False
        pr = create()
    _courtesy(lambda: github.add_labels(ticket.repo, pr.number, [label]), "label")
    if ticket.labeled_by:
        _courtesy(
            lambda: github.request_review(ticket.repo, pr.number, [ticket.labeled_by or ""]),
            "review request",
        )
    return pr, False


def _courtesy(call: Callable[[], None], what: str) -> None:
    try:
        call()
    except BurndownError as exc:  # the pull request stands without it; say so in the log
        log.warning(f"could not add the {what}", error=str(exc))


def withhold_secrets(scanner: SecretScanner, body: str) -> str:
    """`body`, or a notice in its place when it holds a secret (never posted, never quoted)."""
    found = scanner.first(body)
    if found is None:
        return body
    log.warning("comment withheld: it holds a secret", finding=found.what)
    return texts.secret_withheld(found.what)
