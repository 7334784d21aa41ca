"""Group commit: concurrent writes of one kind coalesced into one statement.

Each statement costs the gateway a pool checkout, a send, a wait and a result however many rows it
carries, and PostgreSQL a commit. Under load, the writes that arrive while a statement is in flight
go out together in the next one; alone, a write goes out at once, so nothing waits for company.
Reads of one kind are grouped the same way (`payment_lookup.py`: status reads by the provider's id).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from application.errors import StorageUnavailable

Item = TypeVar("Item")
Result = TypeVar("Result")


class WriteBatcher(Generic[Item, Result]):
    """Runs `write_many` over the writes queued meanwhile, `flushes` statements at most in flight.

    `write_many` answers one result per item, in order, all or nothing. When a batch of several
    fails for any reason but an outage, each of its writes is tried alone, so that one bad write
    fails only its own caller. A caller cancelled before its write went out is dropped; once it is
    out, the write completes for the others' sake, as a statement already sent would.
    """

    def __init__(
        self,
        write_many: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int,
        flushes: int,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._write_many = write_many
        self._on_batch = on_batch  # told the rows of every statement (a metric)
        self._max_batch = max_batch
        self._flushes = flushes
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushing: set[asyncio.Task[None]] = set()

    async def write(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if len(self._flushing) < self._flushes:
            # A task of its own: a caller's cancellation must not cancel the others' writes.
            task = asyncio.create_task(self._flush())
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        return await future

    async def _flush(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._queue:
                taken, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                batch = [(item, future) for item, future in taken if not future.done()]
                if batch:
                    await self._run(batch)
        except BaseException:
            # Cancelled with the event loop's shutdown: no one is left to write what waits.
            for _, future in (*batch, *self._queue):
                future.cancel()
            self._queue.clear()
            raise

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        if self._on_batch is not None:
            self._on_batch(len(batch))
        try:
            results = await self._write_many([item for item, _ in batch])
        except StorageUnavailable as outage:
            for _, future in batch:
                _fail(future, outage)
        except Exception as error:  # noqa: BLE001 - handed to the callers, whose requests answer it
            if len(batch) == 1:
                _fail(batch[0][1], error)
                return
            for single in batch:
                await self._run([single])
        else:
            for (_, future), result in zip(batch, results, strict=True):
                _succeed(future, result)


def _fail(future: asyncio.Future[Result], error: BaseException) -> None:
    if not future.done():  # done: its caller was cancelled while the statement ran
        future.set_exception(error)


def _succeed(future: asyncio.Future[Result], result: Result) -> None:
    if not future.done():  # done: its caller was cancelled while the statement ran
        future.set_result(result)
