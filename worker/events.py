"""Writes a run's events to the store as they stream, in small batches."""

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from sandbox.harness.events import HarnessEvent
from worker.secrets_scan import SecretScanner
from worker.store.models import EventSource, PipelineEventKind
from worker.store.repo import NewEvent, append_events

EventSink = Callable[[HarnessEvent], None]
MAX_EVENTS = 20_000
"""Harness events stored per run; past this they are counted (a flood costs no storage)."""


class EventRecorder:
    """Collects a run's events and appends them to the store; the first event of a run and then
    at most every `interval` seconds or `batch` events, so a long stream costs few commits.
    Every event's data is stored with the values `secrets` holds redacted (`***`)."""

    def __init__(
        self,
        engine: Engine,
        run_id: int,
        *,
        on_event: EventSink | None = None,
        interval: float = 0.25,
        batch: int = 100,
        max_events: int = MAX_EVENTS,
        secrets: SecretScanner | None = None,
    ) -> None:
        self._engine, self._run_id, self._on_event = engine, run_id, on_event
        self._secrets = secrets or SecretScanner()
        self._interval, self._batch = interval, batch
        self._pending: list[NewEvent] = []
        self._last_flush = 0.0
        self._max_events = max_events
        self.stored = 0
        self.dropped = 0
        """Harness events beyond `max_events`: counted, not stored."""

    def harness(self, event: HarnessEvent, source: EventSource = EventSource.HARNESS) -> None:
        if self._on_event:
            self._on_event(event)
        if self.stored >= self._max_events:
            self.dropped += 1
            return
        self.stored += 1
        data = {**event.data, **({"raw": event.raw} if event.raw is not None else {})}
        self._add(NewEvent(source, event.kind, data))

    def sandbox(self, kind: str, data: dict[str, Any]) -> None:
        """Something the sandbox did or refused (an egress refusal, a host not allowed)."""
        self._add(NewEvent(EventSource.SANDBOX, kind[:32], data))

    def note(self, kind: PipelineEventKind, data: dict[str, Any]) -> None:
        """A pipeline finding (verification, policy, review) kept with the run's events."""
        self._add(NewEvent(EventSource.PIPELINE, kind, data))
        self.flush()

    def stage(self, name: str, seconds: float, **extra: Any) -> None:
        data = {"stage": name, "seconds": round(seconds, 4), **extra}
        self._add(NewEvent(EventSource.PIPELINE, PipelineEventKind.STAGE, data))
        self.flush()

    def _add(self, event: NewEvent) -> None:
        data = self._secrets.redact_data(event.data)
        self._pending.append(NewEvent(event.source, event.kind, data))
        now = time.monotonic()
        if (
            self.stored <= 1
            or len(self._pending) >= self._batch
            or now - self._last_flush >= self._interval
        ):
            self.flush()

    def close(self) -> None:
        """Store what is pending, and how many events were dropped past the cap."""
        if self.dropped:
            self.sandbox("events_dropped", {"dropped": self.dropped, "kept": self.stored})
        self.flush()

    def flush(self) -> None:
        if self._pending:
            append_events(self._engine, self._run_id, self._pending)
            self._pending = []
        self._last_flush = time.monotonic()
