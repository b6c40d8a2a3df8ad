"""GitHub's rate limits: waits as GitHub asks, creates retried only when refused by a limit,
and every wait reported (a run records it among its events).

A request refused by a rate limit (429, or 403 with a rate-limit message) was not carried
out, so even a create (POST) may be sent again after the wait; any other failed POST is
never retried blindly (it may have happened). PyGithub's `GithubRetry` reads `Retry-After`,
the reset time of a primary limit, and waits a minute for a secondary one.
"""

import threading
import time
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


class WritePacer:
    """Paces content-creating requests as GitHub asks (at most 80 a minute): a token bucket,
    so a run's few writes go out at once and only a burst beyond `burst` waits."""

    def __init__(
        self, per_minute: float, burst: int = 20, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate, self._burst, self._clock = per_minute / 60.0, float(burst), clock
        self._tokens, self._at = float(burst), clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Wait until a write may go; returns the seconds waited (reported like a limit)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._rate
            self._tokens -= 1  # may go negative: later writers wait behind this one
        if wait > 0:
            sink = _sink.get()
            if sink is not None:
                sink(wait, {"status": None, "retry_after": None, "paced": True})
            time.sleep(wait)
        return wait
