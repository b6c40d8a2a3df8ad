"""The pull request: opened once per ticket, updated by follow-ups, its body the run's record.

Endings: a ready pull request (verified), a draft (not verified, or the reviewer doubts), or
no pull request and a comment on the issue saying why (see the pipeline).
"""

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from sandbox.errors import BurndownError
from worker.github.protocol import GitHubClient, PullRequest
from worker.neutralize import neutralize
from worker.review import Review
from worker.secrets_scan import SecretScanner
from worker.store.models import Run, Ticket
from worker.verify import Verification

MARKER = "<!-- burndown -->"
log = structlog.get_logger("publish")


@dataclass(frozen=True)
class RunFacts:
    """What the PR body reports about the run."""

    harness: str
    model: str | None
    seconds: float
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    run_url: str
    summary: str


def pr_title(ticket: Ticket) -> str:
    return f"{ticket.title} (#{ticket.number})"


def pr_body(
    ticket: Ticket, facts: RunFacts, verification: Verification, review: Review | None
) -> str:
    """The pull request's body. The agent's and reviewer's words are neutralized (they close
    no other issue and mention no one); Burndown's own `Closes #n` line is the only one."""
    tokens = (
        f"{facts.input_tokens} in / {facts.output_tokens} out"
        if facts.input_tokens is not None
        else "unknown"
    )
    cost = "unknown" if facts.cost_usd is None else f"${facts.cost_usd:.4f}"
    parts = [
        f"{MARKER}\nCloses #{ticket.number}",
        f"## What the agent says\n\n{neutralize(facts.summary) or '(the agent gave no summary)'}",
        f"## Verification\n\n{verification.markdown()}",
    ]
    if review is not None:
        verdict = {
            "approve": "approves",
            "doubt": "requests changes",
            "unknown": "gave no verdict",
        }[review.verdict]
        parts.append(f"## Review\n\nThe reviewer {verdict}.\n\n{neutralize(review.text)}")
    parts.append(
        f"## Run\n\n- Harness: `{facts.harness}`\n- Model: `{facts.model or 'default'}`\n"
        f"- Duration: {facts.seconds:.0f} s\n- Tokens: {tokens}\n- Cost: {cost}\n"
        f"- Run: {facts.run_url}"
    )
    return "\n\n".join(parts) + "\n"


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
    pr = github.open_pull(
        ticket.repo,
        head=run.branch,
        base=base,
        title=pr_title(ticket),
        body=body,
        draft=draft,
    )
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
    return f"{MARKER}\nBurndown withheld a comment here: it held a secret ({found.what})."
