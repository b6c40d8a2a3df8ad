"""The optional reviewer: a harness reads the change in a read-only sandbox and gives a verdict.

Its verdict and comments are recorded and shown in the pull request; a reviewer that doubts the
change makes the pull request a draft. It never edits: the tree is mounted read-only.
"""

import re
from dataclasses import dataclass, replace

from sandbox.harness.run import HarnessJob, HarnessRun
from sandbox.runtime import ContainerRuntime
from worker.agent import run_recorded
from worker.events import EventRecorder
from worker.store.models import EventSource, ReviewVerdict

_VERDICT = re.compile(r"VERDICT:\s*(APPROVE|REQUEST[_ ]CHANGES)", re.IGNORECASE)
MAX_DIFF = 60_000


@dataclass(frozen=True)
class Review:
    """The reviewer's verdict and comments."""

    verdict: ReviewVerdict
    text: str
    run: HarnessRun

    @property
    def doubts(self) -> bool:
        return self.verdict != ReviewVerdict.APPROVE


def review_prompt(title: str, body: str, diff: str) -> str:
    if len(diff) > MAX_DIFF:
        diff = diff[:MAX_DIFF] + "\n[diff truncated]"
    return (
        "You are reviewing a change made by a coding agent for this issue. The change is "
        "applied in the current directory; read files as you need, but do not modify anything."
        f"\n\nIssue: {title}\n\n{body}\n\nThe change:\n```diff\n{diff}\n```\n\n"
        "Write your review comments, then end with exactly one line: `VERDICT: APPROVE` if the "
        "change resolves the issue correctly and safely, or `VERDICT: REQUEST_CHANGES` if not."
    )


def parse_verdict(text: str) -> ReviewVerdict:
    found = _VERDICT.findall(text)
    if not found:
        return ReviewVerdict.UNKNOWN
    return ReviewVerdict.APPROVE if found[-1].upper() == "APPROVE" else ReviewVerdict.DOUBT


def review_change(
    runtime: ContainerRuntime,
    job: HarnessJob,
    *,
    title: str,
    body: str,
    diff: str,
    rec: EventRecorder,
) -> Review:
    """Ask the job's harness for a verdict on `diff`, in a read-only sandbox of the job's
    (changed) tree."""
    ro = replace(job, prompt=review_prompt(title, body, diff), read_only=True)
    done = run_recorded(runtime, ro, rec, source=EventSource.REVIEW)
    if done.problem():
        why = f"the reviewer did not finish: {done.problem()}"
        return Review(ReviewVerdict.UNKNOWN, why, done)
    text = done.final_text
    return Review(parse_verdict(text), _VERDICT.sub("", text).strip(), done)
