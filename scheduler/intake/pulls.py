"""`pull_request` closed (merged or not) or reopened on an agent branch: lifecycle tracking."""

from scheduler.intake.payloads import PullRequestEvent
from scheduler.intake.shapes import ACCEPT, Handled, IntakeDeps, Verdict, ignore
from worker.branches import is_agent_branch
from worker.store.lifecycle import PullObservation, known_pull, observe_pull, pull_state
from worker.store.models import DeliveryStatus


def screen(ev: PullRequestEvent, _: str) -> Verdict:
    """Keep pull requests on agent branches."""
    if not is_agent_branch(ev.pull_request.head.ref):
        return ignore("not an agent branch")
    return ACCEPT


def handle(ev: PullRequestEvent, deps: IntakeDeps) -> Handled:
    """A pull request of ours closed, merged or reopened: record it (ordered, idempotent)."""
    repo, number = ev.repository.full_name, ev.pull_request.number
    if not known_pull(deps.engine, repo, number):
        return Handled(DeliveryStatus.IGNORED, f"{repo}#{number} is not an agent pull request")
    row = observe_pull(deps.engine, observation_from_event(ev))
    return Handled(DeliveryStatus.PROCESSED, f"pull request {repo}#{number} is {row.state}")


def observation_from_event(ev: PullRequestEvent) -> PullObservation:
    """A `pull_request` delivery as an observation."""
    pr = ev.pull_request
    merged = bool(pr.merged) or pr.merged_at is not None
    return PullObservation(
        repo=ev.repository.full_name,
        number=pr.number,
        state=pull_state(pr.state, merged),
        observed_at=pr.updated_at,
        opened_at=pr.created_at,
        closed_at=pr.closed_at,
        merged_at=pr.merged_at,
        merge_commit_sha=pr.merge_commit_sha if merged else None,
        head_sha=pr.head.sha,
    )
