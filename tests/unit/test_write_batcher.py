"""Group commit (`WriteBatcher`): concurrent writes share a statement, and each caller still gets
its own answer — or its own error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import cast

import pytest

from domain.money import Money
from domain.payment import Payment, PaymentMethod

from application.errors import StorageUnavailable

from adapters.persistence.batching import WriteBatcher
from adapters.persistence.creation_journal import PostgresCreationJournal
from adapters.persistence.database import AutocommitPool

pytestmark = pytest.mark.anyio


class Store:
    """A `write_many` that records its batches; writes of "bad" fail, "outage" takes the store down."""

    def __init__(self, *, held: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.written: list[str] = []
        # Statements wait here while held, as if PostgreSQL were still running them.
        self.gate: asyncio.Event | None = asyncio.Event() if held else None

    async def write_many(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        if "outage" in items:
            raise StorageUnavailable("database down")
        if "bad" in items:
            raise ValueError("value too long")
        self.written.extend(items)
        return [item.upper() for item in items]

    def release(self) -> None:
        """Let the held statements finish."""
        assert self.gate is not None, "only a held store is released"
        self.gate.set()


def _batcher(store: Store, *, max_batch: int = 64, flushes: int = 1) -> WriteBatcher[str, str]:
    return WriteBatcher(store.write_many, max_batch=max_batch, flushes=flushes)


async def _running(store: Store, batcher: WriteBatcher[str, str], item: str) -> asyncio.Task[str]:
    """`item`'s write, started and waited for until its statement runs (held in a held store)."""
    statements = len(store.batches)
    task = asyncio.create_task(batcher.write(item))
    while len(store.batches) == statements:
        await asyncio.sleep(0)  # a turn of the event loop, not a delay
    return task


async def test_a_lone_write_goes_out_at_once_in_a_batch_of_its_own() -> None:
    store = Store()
    assert await _batcher(store).write("a") == "A"
    assert store.batches == [["a"]]


async def test_concurrent_writes_share_a_statement_and_each_gets_its_own_answer() -> None:
    store = Store()
    batcher = _batcher(store)
    answers = await asyncio.gather(*(batcher.write(item) for item in "abcde"))
    assert answers == list("ABCDE")
    assert store.batches == [list("abcde")]


async def test_writes_arriving_during_a_statement_go_out_together_in_the_next() -> None:
    store = Store(held=True)
    batcher = _batcher(store)
    first = await _running(store, batcher, "a")
    later = [asyncio.create_task(batcher.write(item)) for item in "bcd"]
    await asyncio.sleep(0)
    store.release()
    assert await asyncio.gather(first, *later) == list("ABCD")
    assert store.batches == [["a"], ["b", "c", "d"]]


async def test_a_batch_is_never_larger_than_its_limit() -> None:
    store = Store()
    batcher = _batcher(store, max_batch=2)
    await asyncio.gather(*(batcher.write(item) for item in "abcde"))
    assert store.batches == [["a", "b"], ["c", "d"], ["e"]]


async def test_one_bad_write_fails_only_its_own_caller() -> None:
    store = Store()
    statements: list[int] = []
    batcher = WriteBatcher(store.write_many, max_batch=64, flushes=1, on_batch=statements.append)
    answers = await asyncio.gather(*(batcher.write(item) for item in ("a", "bad", "c")), return_exceptions=True)
    assert answers[0] == "A" and answers[2] == "C"
    assert isinstance(answers[1], ValueError)
    assert store.batches == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
    assert statements == [3, 1, 1, 1]  # what the batch-size metric is told
    assert store.written == ["a", "c"]


async def test_an_outage_fails_every_caller_of_the_batch_without_retrying_each() -> None:
    store = Store()
    batcher = _batcher(store)
    answers = await asyncio.gather(*(batcher.write(item) for item in ("a", "outage")), return_exceptions=True)
    assert all(isinstance(answer, StorageUnavailable) for answer in answers)
    assert store.batches == [["a", "outage"]]


async def test_a_caller_cancelled_before_its_write_went_out_is_not_written() -> None:
    store = Store(held=True)
    batcher = _batcher(store)
    first = await _running(store, batcher, "a")
    gone = asyncio.create_task(batcher.write("b"))
    kept = asyncio.create_task(batcher.write("c"))
    await asyncio.sleep(0)
    gone.cancel()
    store.release()
    assert list(await asyncio.gather(first, kept)) == ["A", "C"]
    assert store.written == ["a", "c"]


async def test_a_caller_cancelled_while_its_statement_runs_leaves_the_others_written() -> None:
    store = Store(held=True)
    batcher = _batcher(store)
    gone, kept = asyncio.create_task(batcher.write("a")), asyncio.create_task(batcher.write("b"))
    while not store.batches:
        await asyncio.sleep(0)  # until both are in the running statement
    gone.cancel()
    store.release()
    assert await kept == "B"
    assert store.written == ["a", "b"]
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_several_statements_may_be_in_flight() -> None:
    store = Store(held=True)
    batcher = _batcher(store, flushes=2)
    first = await _running(store, batcher, "a")
    second = await _running(store, batcher, "b")
    store.release()
    assert list(await asyncio.gather(first, second)) == ["A", "B"]
    assert store.batches == [["a"], ["b"]]


class CountingPool:
    """Stands in for the autocommit pool: counts statements and stores every payment they carry."""

    def __init__(self) -> None:
        self.statements = 0

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[CountingPool]:
        yield self

    async def execute(self, _sql: str, params: tuple[str]) -> CountingPool:
        self.statements += 1
        self._rows = [(row["id"],) for row in json.loads(params[0])]
        await asyncio.sleep(0)  # the round trip: others queue meanwhile
        return self

    async def fetchall(self) -> list[tuple[str]]:
        return self._rows


async def test_concurrent_creates_share_the_journals_statement() -> None:
    pool = CountingPool()
    told: list[tuple[str, int]] = []
    stand_in = cast(AutocommitPool, pool)  # psycopg's pool is a class, not a protocol: this one quacks alike
    journal = PostgresCreationJournal(stand_in, observe_batch=lambda write, rows: told.append((write, rows)))
    payments = [
        Payment(
            id=f"pay_{n}", shop_id=121038, provider="kaspi", method=PaymentMethod.REMOTE,
            amount=Money(500_000, "KZT"), merchant_account="920317450731", description="",
            created_at=datetime(2026, 11, 23, tzinfo=UTC), updated_at=datetime(2026, 11, 23, tzinfo=UTC),
        )
        for n in range(20)
    ]

    await asyncio.gather(*(journal.open(payment) for payment in payments))

    assert pool.statements == 1
    assert told == [("open", 20)]
