"""GitHub's rate limits through real PyGithub against the stand-in: Retry-After and reset
headers honoured, a create refused by a limit sent again (and only then), writes paced, and
every wait reported."""

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.github_standin import GitHubStandIn
from worker.errors import GitHubError
from worker.github import ratelimit
from worker.github.client import PyGithubClient
from worker.github.ratelimit import reporting_waits

REPO = "acme/widgets"
SECONDARY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
    "you try again.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}
PRIMARY = {
    "message": "API rate limit exceeded for installation ID 1.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as standin:
        yield standin


def _setup(gh: GitHubStandIn, **kw: Any) -> tuple[PyGithubClient, int]:
    token = gh.add_repo(REPO, {"README.md": "# w\n"})
    number = gh.create_issue(REPO, "one", "", "alice")
    return PyGithubClient(gh.api_url, token, timeout=10, retries=3, **kw), number


def test_a_create_refused_by_a_secondary_limit_is_sent_again_after_retry_after(
    gh: GitHubStandIn,
) -> None:
    ours, number = _setup(gh)
    path = rf"/repos/{REPO}/issues/{number}/comments"
    gh.fail_next("POST", path, 403, SECONDARY, {"Retry-After": "1"})
    waits: list[tuple[float, dict[str, Any]]] = []
    t0 = time.monotonic()
    with reporting_waits(lambda s, why: waits.append((s, why))):
        ours.comment(REPO, number, "on it")
    assert time.monotonic() - t0 >= 1.0
    assert [c["body"] for c in gh.issue_comments(REPO, number)] == ["on it"]
    assert waits == [(1.0, {"status": 403, "retry_after": "1", "remaining": "5000",
                            "reset": waits[0][1]["reset"]})]  # fmt: skip


def test_a_primary_limit_waits_for_the_reset(gh: GitHubStandIn) -> None:
    ours, number = _setup(gh)
    reset = str(int(time.time()) + 2)
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    gh.fail_next("GET", rf"/repos/{REPO}/issues/{number}", 403, PRIMARY, headers)
    waits: list[float] = []
    with reporting_waits(lambda s, why: waits.append(s)):
        assert ours.get_issue(REPO, number).number == number
    assert len(waits) == 1 and 1.0 <= waits[0] <= 4.0


def test_429_with_retry_after_is_honoured(gh: GitHubStandIn) -> None:
    ours, number = _setup(gh)
    gh.fail_next("GET", rf"/repos/{REPO}/issues/{number}", 429, SECONDARY, {"Retry-After": "1"})
    waits: list[float] = []
    with reporting_waits(lambda s, why: waits.append(s)):
        assert ours.get_issue(REPO, number).number == number
    assert waits == [1.0]


def test_a_create_failing_otherwise_is_not_sent_again(gh: GitHubStandIn) -> None:
    ours, number = _setup(gh)
    path = rf"/repos/{REPO}/issues/{number}/comments"
    gh.fail_next("POST", path, 502, {"message": "Bad gateway"}, after=True)
    with pytest.raises(GitHubError, match="502"):
        ours.comment(REPO, number, "maybe")
    # The write happened before the answer was lost: exactly one comment, no blind repeat.
    assert [c["body"] for c in gh.issue_comments(REPO, number)] == ["maybe"]
    assert [m for m, p in gh.requests if p == path].count("POST") == 1


def test_content_creating_requests_are_paced_after_a_burst(
    gh: GitHubStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, number = _setup(gh, writes_per_minute=1.0)  # one a minute once the burst is spent
    slept: list[float] = []
    monkeypatch.setattr(ratelimit.time, "sleep", slept.append)
    waits: list[float] = []
    with reporting_waits(lambda s, why: waits.append(s)):
        for i in range(21):
            ours.comment(REPO, number, f"c{i}")
    assert len(slept) == 1 and 50 < slept[0] <= 60 and waits == slept  # the 21st only
    assert len(gh.issue_comments(REPO, number)) == 21


def test_the_pacer_refills_at_its_rate() -> None:
    now = [0.0]
    pacer = ratelimit.WritePacer(per_minute=60.0, burst=2, clock=lambda: now[0])
    slept: list[float] = []
    original = ratelimit.time.sleep
    ratelimit.time.sleep = slept.append  # type: ignore[assignment]
    try:
        assert [pacer.take(), pacer.take()] == [0.0, 0.0]
        assert pacer.take() == pytest.approx(1.0)  # the bucket is empty: one second
        now[0] += 5.0  # refilled (up to the burst)
        assert [pacer.take(), pacer.take()] == [0.0, 0.0]
    finally:
        ratelimit.time.sleep = original  # type: ignore[assignment]
    assert slept == [pytest.approx(1.0)]
