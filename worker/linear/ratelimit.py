"""Linear's rate limits: a limited request (HTTP 400 with a `RATELIMITED` GraphQL error, or
a 429) was not carried out, so it is sent again once the limit resets, even a mutation. The
wait comes from Linear's headers (`X-RateLimit-Requests-Reset` and
`X-RateLimit-Complexity-Reset`, epoch milliseconds, or `Retry-After`, seconds) and is
reported like GitHub's (a run records it among its events)."""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

WaitSink = Callable[[float, dict[str, Any]], None]
"""Told (seconds, {status, code, limit headers}) before each wait."""

_sink: ContextVar[WaitSink | None] = ContextVar("linear_wait_sink", default=None)

RESET_HEADERS = ("x-ratelimit-requests-reset", "x-ratelimit-complexity-reset")


@contextmanager
def reporting_waits(sink: WaitSink) -> Iterator[None]:
    """Within the block, every rate-limit wait of this thread's Linear calls is reported."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def report(seconds: float, why: dict[str, Any]) -> None:
    """Tell the sink of this context (if any) about a wait."""
    sink = _sink.get()
    if sink is not None:
        sink(seconds, why)


def is_rate_limited(status: int, body: Any) -> bool:
    """A 429, or an answer whose GraphQL errors say `RATELIMITED`."""
    if status == 429:
        return True
    errors = body.get("errors") if isinstance(body, dict) else None
    return any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "RATELIMITED"
        for e in errors or []
    )


def wait_seconds(
    headers: Mapping[str, str], now_ms: float, fallback: float, longest: float
) -> float:
    """How long to wait, from the reset headers (the latest reset of the limits that are
    spent), `Retry-After`, or `fallback`; at most `longest`."""
    after = headers.get("retry-after")
    if after is not None:
        try:
            return min(max(float(after), 0.0), longest)
        except ValueError:
            pass
    resets: list[float] = []
    for name in RESET_HEADERS:
        remaining = headers.get(name.replace("-reset", "-remaining"))
        value = headers.get(name)
        if value is None or (remaining is not None and remaining.strip() not in ("0", "")):
            continue
        try:
            resets.append(float(value))
        except ValueError:
            continue
    if not resets:
        return min(fallback, longest)
    return min(max((max(resets) - now_ms) / 1000.0, 0.0), longest)


def limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The rate-limit headers of an answer (for the recorded event)."""
    return {k: v for k, v in headers.items() if k.lower().startswith("x-ratelimit-")}
