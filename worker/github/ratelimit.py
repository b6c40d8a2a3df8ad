"""GitHub's rate limits: waits as GitHub asks, creates retried only when refused by a limit,
and every wait reported (a run records it among its events).

A request refused by a rate limit (429, or 403 with a rate-limit message) was not carried
out, so even a create (POST) may be sent again after the wait; any other failed POST is
never retried blindly (it may have happened). PyGithub's `GithubRetry` reads `Retry-After`,
the reset time of a primary limit, and waits a minute for a secondary one.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from github import GithubRetry

WaitSink = Callable[[float, dict[str, Any]], None]
"""Told (seconds, {status, retry_after, limit headers}) before each wait."""

_sink: ContextVar[WaitSink | None] = ContextVar("github_wait_sink", default=None)
RATE_LIMITED = frozenset({403, 429})


@contextmanager
def reporting_waits(sink: WaitSink) -> Iterator[None]:
    """Within the block, every rate-limit wait of this thread's GitHub calls is reported."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


class RateLimitRetry(GithubRetry):
    """`GithubRetry` that retries a POST only when a rate limit refused it, and reports waits."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST":
            if status_code not in RATE_LIMITED:
                return False
            return bool(super().is_retry("GET", status_code, has_retry_after))
        return bool(super().is_retry(method, status_code, has_retry_after))

    def sleep(self, response: Any = None) -> None:
        sink = _sink.get()
        if sink is not None and response is not None and response.status in RATE_LIMITED:
            after = self.get_retry_after(response) if self.respect_retry_after_header else None
            wait = after if after is not None else self.get_backoff_time()
            headers = response.headers
            sink(
                float(wait),
                {
                    "status": response.status,
                    "retry_after": headers.get("Retry-After"),
                    "remaining": headers.get("X-RateLimit-Remaining"),
                    "reset": headers.get("X-RateLimit-Reset"),
                },
            )
        super().sleep(response)
