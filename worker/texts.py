"""Every text Burndown writes to GitHub (issue comments, pull request title and body, commit
messages) and the task it gives the agent, in one place, with the marker that tags them.

Pure functions of their inputs: the pipeline and intake decide *what* happened, and this
module says it.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from worker.neutralize import neutralize
from worker.review import Review
from worker.sanitize import clean
from worker.store.models import Provider, ReviewVerdict, Run, RunKind, Ticket
from worker.verify import Verification

MARKER = "<!-- burndown -->"
"""Starts every comment and pull request body Burndown writes, so its own texts can be found."""


@dataclass(frozen=True)
class RunFacts:
    """What the pull request body reports about the run."""

    harness: str
    model: str | None
    seconds: float
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    run_url: str
    summary: str


def issue_ref(ticket: Ticket) -> str:
    """How the ticket's issue is named: `#12` on GitHub, its key (`ENG-123`) on Linear."""
    return ticket.tracker_key or f"#{ticket.number}"


def closes(ticket: Ticket) -> str:
    """The line that closes the issue on merge: GitHub's `Closes #12`, or `Fixes ENG-123`
    (Linear's GitHub integration reads it; GitHub does not, so no GitHub issue closes)."""
    if ticket.provider == Provider.LINEAR:
        return f"Fixes {ticket.tracker_key}"
    return f"Closes #{ticket.number}"


def no_longer_trusted(ticket: Ticket, who: str) -> str:
    """Why a run did not start: the person who asked may no longer ask."""
    if ticket.provider == Provider.LINEAR:
        return f"{who} is no longer a Linear member Burndown may take work from"
    return f"@{who} no longer has write access to the repository"


def task_prompt(ticket: Ticket, run: Run) -> str:
    """The task the agent gets: the issue, and for a follow-up the feedback to address; what
    a reader on GitHub cannot see is cut (`worker.sanitize`; `hidden_in_task` says what)."""
    title, body = clean(ticket.title).text, clean(ticket.body).text
    tracker = "Linear" if ticket.provider == Provider.LINEAR else "GitHub"
    base = (
        f"Resolve this {tracker} issue of the repository {ticket.repo}, whose checkout is the "
        "current directory. Make the change in the working tree; do not commit or push, "
        "the changes are collected for you.\n\n"
        f"Issue {issue_ref(ticket)}: {title}\n\n{body}"
    )
    if run.kind == RunKind.INITIAL:
        return base
    what = (
        "A check failed on your pull request"
        if run.kind == RunKind.FIX
        else f"{_asker(ticket, run)} asked for changes on your pull request"
    )
    return (
        f"{base}\n\nYou already opened a pull request for this issue; the checkout is "
        f"its branch. {what}:\n\n{clean(run.feedback or '').text}\n\nAddress it."
    )


def _asker(ticket: Ticket, run: Run) -> str:
    """Who asked for a follow-up (a Linear member is known by id only: said as a role)."""
    if ticket.provider == Provider.LINEAR:
        return "A member of the Linear agent session"
    return f"@{run.requested_by}"


def hidden_in_task(ticket: Ticket, run: Run) -> dict[str, list[dict[str, Any]]]:
    """What `task_prompt` cut (escaped), by the text it was cut from, for the run's events;
    only texts that lost something."""
    texts = {"title": ticket.title, "body": ticket.body, "feedback": run.feedback or ""}
    cut = {name: clean(text).removed for name, text in texts.items()}
    return {name: [asdict(r) for r in removed] for name, removed in cut.items() if removed}


def commit_message(ticket: Ticket, run: Run) -> str:
    """The message of the agent's commit."""
    # Only Burndown's own `Closes #n` may act: the title and feedback are neutralized.
    if run.kind != RunKind.INITIAL:
        feedback = neutralize((run.feedback or "")[:500])
        return f"Address feedback on {issue_ref(ticket)}\n\n{feedback}"
    return f"{neutralize(ticket.title)}\n\n{closes(ticket)}.\n\nMade by Burndown."


def pr_title(ticket: Ticket) -> str:
    """The pull request's title."""
    return f"{ticket.title} ({issue_ref(ticket)})"


def counts_text(counts: dict[str, int]) -> str:
    """`200 passed, 1 failed, 3 skipped`: the usual ones first, then the rest by name."""
    order = ["passed", "failed", "errors", "skipped"]
    names = [n for n in order if n in counts] + sorted(set(counts) - set(order))
    return ", ".join(f"{counts[n]} {n}" for n in names)


def verification_text(v: Verification) -> str:
    """What verification ran and what it found, in markdown."""
    if not v.commands.test:
        return f"Not verified: {v.reason}."
    cmds = "; ".join(f"`{c}`" for c in v.commands.test)
    lines = [
        f"{'Verified' if v.verified else 'Not verified'}: {v.reason}.",
        f"Ran {cmds} ({v.commands.source}) on the base commit and on the change.",
    ]
    for name, check in (("the change", v.head), ("the base commit", v.base)):
        if check is not None and check.counts:
            lines.append(f"Tests on {name}: {counts_text(check.counts)}.")
    if v.newly_failing:
        lines.append("Newly failing: " + ", ".join(f"`{t}`" for t in v.newly_failing))
    if v.pre_existing:
        lines.append(
            "Failing before and after (pre-existing): "
            + ", ".join(f"`{t}`" for t in v.pre_existing)
        )
    return "\n".join(lines)


_VERDICTS = {
    ReviewVerdict.APPROVE: "approves",
    ReviewVerdict.DOUBT: "requests changes",
    ReviewVerdict.UNKNOWN: "gave no verdict",
}


def pr_body(
    ticket: Ticket, facts: RunFacts, verification: Verification, review: Review | None
) -> str:
    """The pull request's body: the run's record. The agent's and reviewer's words are
    neutralized (they close no other issue and mention no one); Burndown's own `Closes #n`
    line is the only one."""
    tokens = (
        f"{facts.input_tokens} in / {facts.output_tokens} out"
        if facts.input_tokens is not None
        else "unknown"
    )
    cost = "unknown" if facts.cost_usd is None else f"${facts.cost_usd:.4f}"
    parts = [
        f"{MARKER}\n{closes(ticket)}",
        f"## What the agent says\n\n{neutralize(facts.summary) or '(the agent gave no summary)'}",
        f"## Verification\n\n{verification_text(verification)}",
    ]
    if review is not None:
        verdict, words = _VERDICTS[review.verdict], neutralize(review.text)
        parts.append(f"## Review\n\nThe reviewer {verdict}.\n\n{words}")
    parts.append(
        f"## Run\n\n- Harness: `{facts.harness}`\n- Model: `{facts.model or 'default'}`\n"
        f"- Duration: {facts.seconds:.0f} s\n- Tokens: {tokens}\n- Cost: {cost}\n"
        f"- Run: {facts.run_url}"
    )
    return "\n\n".join(parts) + "\n"


def could_not_finish(detail: str, run_url: str) -> str:
    """Issue comment: the run failed."""
    return f"{MARKER}\nBurndown could not finish this issue: {neutralize(detail)}\n\nRun: {run_url}"


def no_changes(harness: str, run_url: str) -> str:
    """Issue comment: the agent changed nothing."""
    return (
        f"{MARKER}\nBurndown ran `{harness}` on this issue and it made no changes, so there "
        f"is no pull request. Run: {run_url}"
    )


def policy_refused(violations: Sequence[object], run_url: str) -> str:
    """Issue comment: the change breaks the diff policy; nothing was pushed."""
    rules = neutralize("\n".join(f"- {v}" for v in violations))
    return (
        f"{MARKER}\nBurndown's agent made a change, but it breaks the repository's diff "
        f"policy, so nothing was pushed:\n\n{rules}\n\nRun: {run_url}"
    )


def pr_updated(run: Run, verification: Verification, run_url: str) -> str:
    """Pull request comment: a follow-up pushed a new commit."""
    if run.kind == RunKind.FIX:
        whom = " to fix a failed check"
    else:
        whom = f" in answer to @{run.requested_by}" if run.requested_by else ""
    return (
        f"{MARKER}\nBurndown pushed a new commit to this pull request{whom}. "
        f"{verification_text(verification)}\n\nRun: {run_url}"
    )


def pr_opened(pr_url: str, draft_reason: str | None) -> str:
    """Issue comment: a pull request was opened (a draft when there is a reason)."""
    if draft_reason is None:
        return f"{MARKER}\nBurndown opened a pull request for this issue: {pr_url}"
    return (
        f"{MARKER}\nBurndown opened a draft pull request for this issue: {pr_url} "
        f"(a draft: {draft_reason})"
    )


def untrusted_labeller(login: str, label: str) -> str:
    """Issue comment: the label was added by someone without write access."""
    return (
        f"{MARKER}\n"
        f"Thanks @{login}! Burndown only starts work when the `{label}` label is added by "
        "someone with write, maintain or admin permission on this repository, so it will not "
        "act on this label. A maintainer can add it to start a run."
    )


def will_not_run(reason: object) -> str:
    """Issue comment: the ticket's choices are invalid (unknown harness, bad config, ...)."""
    return f"{MARKER}\nBurndown will not run: {reason}"


def cancelled(run_url: str) -> str:
    """Issue comment: a person stopped the run."""
    return f"{MARKER}\nBurndown stopped working on this issue, as asked. Run: {run_url}"


def cancelled_queued() -> str:
    """Issue comment: a person stopped a ticket before it ran."""
    return f"{MARKER}\nBurndown will not work on this issue, as asked (it had not started)."


def run_lost(run_url: str, requeued: bool) -> str:
    """Issue comment: the worker running this issue was lost."""
    then = (
        "It is queued again."
        if requeued
        else "It will not be retried automatically; "
        "add the label again (or `burndown dead retry`) to try once more."
    )
    return f"{MARKER}\nThe worker running this issue stopped answering. {then} Run: {run_url}"


def push_refused(branch: str) -> str:
    """Why a run stopped: someone pushed to the agent's branch while it went on."""
    return (
        f"someone pushed to `{branch}` while Burndown was working, so it did not push over "
        "their commits; comment `/burndown` on the pull request to continue from them"
    )


def others_on_branch(branch: str, shas: list[str]) -> str:
    """Why a run did not start: the agent branch holds someone else's commits."""
    listed = ", ".join(s[:12] for s in shas[:5])
    return (
        f"`{branch}` has commits by someone else ({listed}); a new run would start from the "
        "default branch and drop them. Comment `/burndown` on its pull request to build on "
        "them, or delete the branch to start over"
    )


def not_started(reason: str, run_url: str) -> str:
    """Issue comment: the run was claimed, but what asked for it no longer holds."""
    return (
        f"{MARKER}\nBurndown did not start on this issue after all: {reason}. "
        f"Add the label again to ask once more. Run: {run_url}"
    )


def secret_withheld(what: str) -> str:
    """What is posted instead of a text that held a secret (never quoted)."""
    return f"{MARKER}\nBurndown withheld a comment here: it held a secret ({what})."


def withheld(why: str, run_url: str) -> str:
    """Issue comment: a text going out held a secret, so nothing went out."""
    return f"{MARKER}\nBurndown withheld this run's result: {why}.\n\nRun: {run_url}"


def _usd(value: float | None) -> str:
    return "an unknown amount" if value is None else f"${value:.4f}"


def over_budget(reason: str, spent: float | None, gateway: float | None, run_url: str) -> str:
    """Issue comment: the run was stopped at its dollar cap or turn limit."""
    seen = f" (the gateway recorded {_usd(gateway)})" if gateway is not None else ""
    return (
        f"{MARKER}\nBurndown stopped this run at its limit: {reason}. "
        f"It spent {_usd(spent)}{seen}; nothing was published. Run: {run_url}"
    )


def budget_refused(budget: str) -> str:
    """Issue comment: a spent budget above the run refuses the ticket (by setting)."""
    return (
        f"{MARKER}\nBurndown will not work on this issue now: {budget} is spent. "
        "Add the label again once it starts again."
    )


def status_queued(labeller: str) -> str:
    """The live status: queued (at intake)."""
    return f"{MARKER}\n**Burndown status: queued** (asked by @{labeller}). A run starts shortly."


def status_retrying(detail: str, run_url: str) -> str:
    """The live status: the sandbox could not start; the ticket waits and runs again."""
    return (
        f"{MARKER}\n**Burndown status: queued again**: the sandbox could not start "
        f"({detail[:300]}). It will be tried again shortly.\n\nRun: {run_url}"
    )


def status_running(harness: str, model: str | None, run_url: str) -> str:
    """The live status: the agent is running."""
    on = f"`{harness}` with `{model}`" if model else f"`{harness}`"
    return f"{MARKER}\n**Burndown status: running** {on}. Follow it live: {run_url}"


def status_verifying(run_url: str) -> str:
    """The live status: the change is being checked (policy, tests, review)."""
    return f"{MARKER}\n**Burndown status: verifying** the agent's change. Run: {run_url}"


_FINAL = {
    "pr_opened": "done: pull request {pr}",
    "pr_draft": "done: draft pull request {pr}",
    "pr_updated": "done: pull request {pr} updated",
    "no_changes": "no pull request: the agent changed nothing",
    "refused": "no pull request: the change broke the diff policy ({detail})",
    "failed": "no pull request: {detail}",
    "cancelled": "stopped: {detail}",
}


def status_final(kind: str, pr_url: str | None, detail: str, run_url: str) -> str:
    """The live status once the run has ended: the pull request, or why there is none."""
    line = _FINAL.get(kind, "ended: {detail}").format(pr=pr_url or "", detail=detail[:300])
    return f"{MARKER}\n**Burndown status: {line}**\n\nRun: {run_url}"


def linear_untrusted(name: str, label: str) -> str:
    """Linear comment: the label (or delegation) came from someone Burndown may not take
    work from."""
    return (
        f"Thanks {name}! Burndown only takes work (the `{label}` label, or a delegation) from "
        "the Linear members its operator trusts, so it will not act on this one. A trusted "
        "member can ask instead."
    )


def linear_unmapped(team: str) -> str:
    """Linear comment: no repository is known for the issue."""
    return (
        f"Burndown does not know which GitHub repository team {team}'s issues go to. Add a "
        "line `repo: owner/name` to the description (or ask the operator to map the team in "
        "`BURNDOWN_LINEAR_REPOS`), then ask again."
    )


def linear_repo_unreachable(repo: str, why: str) -> str:
    """Linear comment: the mapped repository cannot be reached with Burndown's credentials."""
    return (
        f"Burndown cannot work on `{repo}`: {neutralize(why)}. Check the repository's name "
        "and that Burndown's GitHub App (or token) has access to it, then ask again."
    )


def linear_picked_up() -> str:
    """The first agent activity: the delegation was received."""
    return "Burndown picked this up and is looking at the issue; a run starts shortly."


def linear_busy() -> str:
    """Agent activity: a prompt came while a run is on."""
    return (
        "Burndown is still working on this session's last request; send this again once it "
        "has answered."
    )
