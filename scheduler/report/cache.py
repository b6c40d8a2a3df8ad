"""Answers computed once per version of the report's sums: a dashboard reloaded, the same
`/api` call again or a Prometheus scrape costs two one-row reads until something is written
(`scheduler.report.weeks.version`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Engine

from scheduler.report.weeks import version

T = TypeVar("T")


class ReportCache:
    """The last `size` answers, each kept with the version of the sums it was computed from."""

    def __init__(self, engine: Engine, size: int = 128) -> None:
        self.engine, self.size = engine, size
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The answer for `key` at the sums' current version, computed if not kept."""
        now = version(self.engine)  # brings the sums up to date first
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and kept[0] == now:
                self._entries.move_to_end(key)
                return kept[1]  # type: ignore[no-any-return]
        value = compute()  # read at `now` or later: at worst recomputed once more
        with self._lock:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value
