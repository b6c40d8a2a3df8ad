"""The delivery writer: concurrent deliveries are stored once each (duplicates in one batch
too) before their requests are answered, every fresh one is handed off, and a store failure
reaches the request instead of stranding it."""

import asyncio

import pytest
from sqlalchemy import Engine

from scheduler.intake.writer import DeliveryWriter
from worker.errors import StoreError
from worker.store.repo import NewDelivery, get_delivery


def _new(i: int, digest: str | None = None) -> NewDelivery:
    return NewDelivery(f"d{i}", "issues", "labeled", f'{{"n": {i}}}', digest or f"{i:064x}")


async def _keep_all(writer: DeliveryWriter, items: list[NewDelivery]) -> list[bool]:
    return list(await asyncio.gather(*(writer.keep(d) for d in items)))


def test_concurrent_deliveries_are_kept_once_before_the_answer_and_handed_off(
    engine: Engine,
) -> None:
    sent: list[list[str]] = []
    items = [_new(i) for i in range(40)]
    items += [_new(3), _new(99, digest=items[5].body_sha256)]  # a redelivery, a replay
    with DeliveryWriter(engine, sent.append) as writer:
        answers = asyncio.run(_keep_all(writer, items))
    assert answers == [True] * 40 + [False, False]
    handed = [d for batch in sent for d in batch]
    assert sorted(handed) == sorted(d.id for d in items[:40])
    assert all(get_delivery(engine, d.id) is not None for d in items[:40])
    assert get_delivery(engine, "d99") is None
    with DeliveryWriter(engine, sent.append) as writer:  # later, in another batch
        assert asyncio.run(_keep_all(writer, [_new(7), _new(100, items[8].body_sha256)])) == [
            False,
            False,
        ]
    assert len([d for batch in sent for d in batch]) == 40


def test_a_broker_failure_still_answers_stored(engine: Engine) -> None:
    def down(_: list[str]) -> None:
        raise ConnectionError("broker down")

    with DeliveryWriter(engine, down) as writer:
        assert asyncio.run(_keep_all(writer, [_new(1)])) == [True]
    assert get_delivery(engine, "d1") is not None  # pending: the reconciler sends it


def test_a_store_failure_reaches_the_request(sqlite_url: str) -> None:
    from worker.store.db import make_engine

    engine = make_engine(sqlite_url)  # never migrated: no delivery table
    with DeliveryWriter(engine, lambda _: None, timeout=10) as writer, pytest.raises(StoreError):
        asyncio.run(_keep_all(writer, [_new(1)]))
    engine.dispose()


def test_the_writer_replaces_its_connection_when_the_database_drops_it(
    postgres_url: str,
) -> None:
    from sqlalchemy import text

    from worker.store.db import make_engine
    from worker.store.migrate import upgrade

    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    sent: list[list[str]] = []
    with DeliveryWriter(engine, sent.append) as writer:
        assert asyncio.run(_keep_all(writer, [_new(1)])) == [True]
        with engine.connect() as conn:  # as a database restart does to every session
            ended = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
        assert ended  # the writer's own connection among them
        assert asyncio.run(_keep_all(writer, [_new(2), _new(3)])) == [True, True]
    assert all(get_delivery(engine, f"d{i}") is not None for i in (1, 2, 3))
    engine.dispose()
