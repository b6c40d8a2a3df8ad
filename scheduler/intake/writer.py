"""Stored, handed off, then answered, at the speed of the web server.

One thread owns the delivery writes: it takes whatever deliveries are waiting and keeps them
with one INSERT in one transaction (a group commit: concurrent deliveries never contend for
the store's lock); a second hands the fresh ones to the queue in one message, then wakes
their requests. The event loop only puts an item on a queue and awaits a future.
"""

import asyncio
import queue
import threading
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Engine

from sandbox.errors import BurndownError
from worker.logs import get_logger
from worker.store.repo import NewDelivery, record_deliveries

log = get_logger(__name__)

MAX_BATCH = 128
Settle = Callable[[bool | BaseException], None]


class DeliveryWriter:
    """Keeps deliveries in batches from one thread; a second thread hands the fresh ones off
    and answers, so the next batch is written while the last one is handed off."""

    def __init__(
        self, engine: Engine, enqueue: Callable[[list[str]], None], timeout: float = 60
    ) -> None:
        self._engine, self._enqueue, self._timeout = engine, enqueue, timeout
        self._queue: queue.Queue[tuple[NewDelivery, Settle] | None] = queue.Queue()
        self._kept: queue.Queue[tuple[list[str], list[tuple[Settle, bool]]] | None]
        self._kept = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def keep(self, delivery: NewDelivery) -> bool:
        """Store `delivery` and hand it off; False when it was seen before (a duplicate).
        `StoreError` when the store fails, `TimeoutError` when it does not answer in time."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()

        def settle(result: bool | BaseException) -> None:
            loop.call_soon_threadsafe(_settle, done, result)

        self._start()
        self._queue.put((delivery, settle))
        return await asyncio.wait_for(done, self._timeout)

    def close(self) -> None:
        """Finish what is queued and stop the threads."""
        with self._lock:
            threads, self._threads = self._threads, []
        if threads:
            self._queue.put(None)
            for thread in threads:
                thread.join(self._timeout)

    def __enter__(self) -> "DeliveryWriter":
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _start(self) -> None:
        with self._lock:
            if not self._threads:
                for target, name in (
                    (self._write_loop, "writer"),
                    (self._hand_off_loop, "hand-off"),
                ):
                    # close() drains them; as daemons they never hold the process's exit up
                    thread = threading.Thread(target=target, name=f"delivery-{name}", daemon=True)
                    thread.start()
                    self._threads.append(thread)

    def _write_loop(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                self._write(batch)
            except Exception as exc:  # a bug here must not strand the waiting requests
                log.exception("delivery writer failed")
                for _, settle in batch:
                    settle(exc)
        self._kept.put(None)

    def _write(self, batch: list[tuple[NewDelivery, Settle]]) -> None:
        firsts: list[NewDelivery] = []
        seen: set[str] = set()
        for d, _ in batch:  # one batch may hold the same delivery twice: the first counts
            keys = {d.id, *([d.body_sha256] if d.body_sha256 else [])}
            if not keys & seen:
                firsts.append(d)
            seen |= keys
        try:
            fresh = record_deliveries(self._engine, firsts)
        except BurndownError as exc:
            for _, settle in batch:
                settle(exc)
            return
        kept = {id(d) for d in firsts if d.id in fresh}
        ids = [d.id for d in firsts if d.id in fresh]
        self._kept.put((ids, [(settle, id(d) in kept) for d, settle in batch]))

    def _hand_off_loop(self) -> None:
        while (item := self._kept.get()) is not None:
            ids, answers = item
            if ids:
                self._hand_off(ids)
            for settle, fresh in answers:
                settle(fresh)

    def _hand_off(self, deliveries: list[str]) -> None:
        try:
            self._enqueue(deliveries)
        except Exception as exc:
            log.warning(
                "delivery stored, not enqueued; the reconciler will",
                deliveries=deliveries,
                error=str(exc),
            )


def _settle(done: asyncio.Future[bool], result: bool | BaseException) -> None:
    if done.done():  # the request went away (cancelled, timed out)
        return
    if isinstance(result, BaseException):
        done.set_exception(result)
    else:
        done.set_result(result)
