"""Stored, handed off, then answered, at the speed of the web server.

One thread owns the delivery writes: it takes whatever deliveries are waiting and keeps them
with one INSERT in one transaction (a group commit: concurrent deliveries never contend for
the store's lock), then wakes their requests: stored is answered. A second thread hands the
fresh ones to the queue, every delivery kept while it was busy in one message; one it could
not hand off stays received in the store, and the reconciler sends it. The event loop only
appends to a list and awaits a future: the deliveries that arrive in one turn of the loop go
to the writer together (one wake-up of its thread), and a batch's answers come back together
(one wake-up of the loop).
"""

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sandbox.errors import BurndownError
from worker.errors import StoreError
from worker.logs import get_logger
from worker.store.repo import NewDelivery, record_deliveries

log = get_logger(__name__)

MAX_BATCH = 128
# How long the hand-off waits for more deliveries to send in one message: a queue message
# costs far more than a row, and no answer waits for it.
HAND_OFF_WAIT = 0.05
Result = bool | BaseException
Item = tuple[NewDelivery, asyncio.Future[bool], asyncio.AbstractEventLoop]


class DeliveryWriter:
    """Keeps deliveries in batches from one thread and answers; a second thread hands the
    fresh ones off, so the queue's latency is never in an answer."""

    def __init__(
        self, engine: Engine, enqueue: Callable[[list[str]], None], timeout: float = 60
    ) -> None:
        self._engine, self._enqueue, self._timeout = engine, enqueue, timeout
        self._queue: queue.Queue[list[Item] | None] = queue.Queue()
        self._kept: queue.Queue[list[str] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._waiting: list[Item] = []  # appended to on the event loop only
        self._conn: Connection | None = None  # the writer thread's own, kept between batches

    async def keep(self, delivery: NewDelivery) -> bool:
        """Store `delivery` (then hand it off); False when it was seen before (a duplicate).
        `StoreError` when the store fails, `TimeoutError` when it does not answer in time."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._start()
        if not self._waiting:
            loop.call_soon(self._flush)  # after the other requests of this turn of the loop
        self._waiting.append((delivery, done, loop))
        async with asyncio.timeout(self._timeout):
            return await done

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        if waiting:
            self._queue.put(waiting)

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
        if self._threads:
            return
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
            batch = list(first)
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.extend(more)
            try:
                self._write(batch)
            except Exception as exc:  # a bug here must not strand the waiting requests
                log.exception("delivery writer failed")
                self._drop_connection()
                _answer([(item, exc) for item in batch])
        self._drop_connection()
        self._kept.put(None)

    def _record(self, deliveries: list[NewDelivery]) -> set[str]:
        """On the connection this thread keeps; once more on a fresh one if it failed (the
        database restarted): ON CONFLICT makes the second attempt safe."""
        for attempt in (1, 2):
            try:
                if self._conn is None:
                    self._conn = self._engine.connect()
                return record_deliveries(self._conn, deliveries)
            except (BurndownError, SQLAlchemyError) as exc:
                self._drop_connection()
                if attempt == 2:
                    if isinstance(exc, BurndownError):
                        raise
                    raise StoreError(f"store error: {exc.__class__.__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may not close cleanly
                conn.close()

    def _write(self, batch: list[Item]) -> None:
        firsts: list[NewDelivery] = []
        seen: set[str] = set()
        for d, _, _ in batch:  # one batch may hold the same delivery twice: the first counts
            keys = {d.id, *([d.body_sha256] if d.body_sha256 else [])}
            if not keys & seen:
                firsts.append(d)
            seen |= keys
        try:
            fresh = self._record(firsts)
        except BurndownError as exc:
            _answer([(item, exc) for item in batch])
            return
        kept = {id(d) for d in firsts if d.id in fresh}
        _answer([(item, id(item[0]) in kept) for item in batch])
        if fresh:
            self._kept.put([d.id for d in firsts if d.id in fresh])

    def _hand_off_loop(self) -> None:
        while (ids := self._kept.get()) is not None:
            until = time.monotonic() + HAND_OFF_WAIT
            while len(ids) < MAX_BATCH:  # what is kept meanwhile goes in the same message
                try:
                    more = self._kept.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if more is None:
                    self._kept.put(None)
                    break
                ids += more
            log.info("deliveries accepted", deliveries=ids)
            self._hand_off(ids)

    def _hand_off(self, deliveries: list[str]) -> None:
        try:
            self._enqueue(deliveries)
        except Exception as exc:
            log.warning(
                "delivery stored, not enqueued; the reconciler will",
                deliveries=deliveries,
                error=str(exc),
            )


def _answer(answers: list[tuple[Item, Result]]) -> None:
    """Wake each event loop once for all its answers."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], Result]]] = {}
    for (_, done, loop), result in answers:
        by_loop.setdefault(loop, []).append((done, result))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[bool], Result]]) -> None:
    for done, result in settled:
        if done.done():  # the request went away (cancelled, timed out)
            continue
        if isinstance(result, BaseException):
            done.set_exception(result)
        else:
            done.set_result(result)
