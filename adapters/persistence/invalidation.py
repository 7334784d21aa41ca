"""Telling every process that a cached route or API key changed: PostgreSQL NOTIFY and a listener.

A change announces itself inside its own transaction, so PostgreSQL delivers the notice on commit
and never for a rollback, whichever process made it (a replica, the CLI). SQLite has no such
channel: there the caches' short TTL is the bound on staleness.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import psycopg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from application.errors import StorageUnavailable

from adapters.logs import get_logger

log = get_logger("paygate.cache")

CHANNEL = "paygate_invalidate"
APPLICATION_NAME = "paygate-cache-listener"  # how the listener shows in pg_stat_activity
# Passed to the listener's callback after a reconnect: notices may have been missed, forget everything.
EVERYTHING = "*"

Invalidate = Callable[[str], None]


def route_topic(shop_id: int, provider: str) -> str:
    return f"route:{shop_id}:{provider}"


def key_topic(key_hash: str) -> str:
    return f"key:{key_hash}"


async def announce(connection: AsyncConnection, topic: str) -> None:
    if connection.dialect.name == "postgresql":
        await connection.execute(select(func.pg_notify(CHANNEL, topic)))


class InvalidationListener:
    """LISTENs on one dedicated connection and calls `on_topic` for every notice.

    When the connection is lost it reconnects with back-off and then calls `on_topic(EVERYTHING)`:
    whatever was announced meanwhile is unknown, so every cached entry must go.
    """

    def __init__(
        self,
        conninfo: str,
        on_topic: Invalidate,
        *,
        retry_delay: float = 0.5,
        max_retry_delay: float = 10.0,
        ping_every: float = 15.0,
    ) -> None:
        self._conninfo = conninfo
        self._on_topic = on_topic
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._ping_every = ping_every
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        """Returns once LISTEN is in place, so nothing committed after it goes unheard."""
        try:
            connection = await self._connect()
        except psycopg.OperationalError as error:
            # A database unreachable at start-up is an outage like any other, said in a line.
            raise StorageUnavailable(str(error).strip().splitlines()[0]) from error
        self._task = asyncio.create_task(self._run(connection), name="cache-invalidation-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        connection = await psycopg.AsyncConnection.connect(
            # Keepalives notice a peer that vanished without closing the socket (a failover, a cut cable).
            self._conninfo, autocommit=True, connect_timeout=5, application_name=APPLICATION_NAME,
            keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
        )
        try:
            await connection.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            await connection.close()
            raise
        self.connected.set()
        return connection

    async def _run(self, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        delay = self._retry_delay
        while True:
            try:
                await self._listen(connection)
            except (psycopg.Error, OSError) as error:
                self.connected.clear()
                log.warning("cache_listener_disconnected", error=type(error).__name__)
            finally:
                await connection.close()
            while True:
                await asyncio.sleep(delay)
                try:
                    connection = await self._connect()
                except (psycopg.Error, OSError):
                    delay = min(delay * 2, self._max_retry_delay)
                    continue
                delay = self._retry_delay
                self._on_topic(EVERYTHING)
                log.info("cache_listener_reconnected")
                break

    async def _listen(self, connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        while True:
            async for notice in connection.notifies(timeout=self._ping_every):
                self._on_topic(notice.payload)
            # A quiet channel says nothing about the connection: a half-open socket only shows on use.
            await asyncio.wait_for(connection.execute("SELECT 1"), timeout=self._ping_every)
