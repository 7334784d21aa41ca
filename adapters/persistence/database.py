"""Creating the async engine for PostgreSQL (production) or a SQLite file (development, demos)."""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Dialect, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from application.errors import StorageUnavailable

# The async driver each backend runs on; plain URLs (`postgresql://`, `sqlite:///`) are accepted.
_ASYNC_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def _async_url(url: str | URL) -> URL:
    """The URL with its async driver; refuses drivers the gateway does not ship with."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}: use postgresql:// or sqlite:///")
    return parsed.set(drivername=driver)


class _FailFastPool(AsyncAdaptedQueuePool):
    """A queue pool whose checkout timeout is a storage outage, not an internal error."""

    def _do_get(self) -> ConnectionPoolEntry:
        try:
            return super()._do_get()
        except sa_exc.TimeoutError as timeout:
            # Every connection is busy or stuck connecting: answer 503 now rather than queue on.
            raise StorageUnavailable("no database connection free in time") from timeout


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 0,
    pool_timeout: float = 5.0,
    connect_timeout: int = 5,
    ping_after_idle: float = 1.0,
    sqlite_busy_timeout: float = 30.0,
) -> AsyncEngine:
    """An engine for `url`; the caller owns it and disposes of it. Pool sizes apply to PostgreSQL.

    Losing the database raises `StorageUnavailable` (see `_storage_unavailable`), quickly: a
    connection attempt gives up after `connect_timeout` seconds, a wait for a free connection
    after `pool_timeout`. A pooled connection idle for `ping_after_idle` seconds is tested before
    use (see `_ping_if_idle`).
    """
    target = _async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = _sqlite_engine(target, busy_timeout=sqlite_busy_timeout)
    else:
        engine = create_async_engine(
            target,
            poolclass=_FailFastPool,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            connect_args={"connect_timeout": connect_timeout},
        )
        # Connections die with a PostgreSQL restart or failover: idle ones are tested before use.
        event.listen(engine.sync_engine.pool, "checkin", _note_return)
        event.listen(
            engine.sync_engine.pool, "checkout",
            partial(_ping_if_idle, dialect=engine.sync_engine.dialect, idle=ping_after_idle),
        )
    event.listen(engine.sync_engine, "handle_error", _storage_unavailable, retval=True)
    return engine


_RETURNED_AT = "paygate_returned_at"


def _note_return(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_RETURNED_AT] = time.monotonic()


def _ping_if_idle(
    dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any, *, dialect: Dialect, idle: float
) -> None:
    """Test a pooled connection that sat idle `idle` seconds or more; trust a new or busy one.

    SQLAlchemy's `pool_pre_ping` tests every checkout: a round trip and ~0.2 ms of CPU on each of
    the two or three transactions of every request. A connection in use moments ago is alive; a
    restart within that moment fails one request with 503 (`_storage_unavailable`), after which
    SQLAlchemy replaces every older connection of the pool, as it does after a failed ping.
    """
    returned = record.info.get(_RETURNED_AT)
    if returned is None or time.monotonic() - returned < idle:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:  # noqa: BLE001 - whatever broke it, this connection is not to be used
        # The pool drops this connection and every older one, then checks out a new one.
        raise sa_exc.InvalidatePoolError(f"idle connection failed its ping ({type(error).__name__})") from None


def _storage_unavailable(context: ExceptionContext) -> BaseException | None:
    """Connectivity failures (refused, reset, server shutting down or starting) as `StorageUnavailable`.

    Above the adapters nobody knows SQLAlchemy: the HTTP layer maps this to 503 `database_unavailable`.
    Constraint violations and programming errors keep their own types.
    """
    original = context.original_exception
    dbapi = context.dialect.loaded_dbapi
    # PEP 249 names; not every async adapter has both (aiosqlite's has no InterfaceError).
    connectivity = tuple(
        getattr(dbapi, name) for name in ("OperationalError", "InterfaceError") if hasattr(dbapi, name)
    )
    if context.is_disconnect or isinstance(original, connectivity):
        return StorageUnavailable(type(original).__name__)
    return None


def _sqlite_engine(url: URL, *, busy_timeout: float) -> AsyncEngine:
    if url.database and url.database != ":memory:":
        # The embedded default lives in ./var: a fresh checkout has no such folder yet.
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout})
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module (it defers BEGIN and skips it before
    # SAVEPOINT); `_begin_immediate` emits the BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers proceed while one writer works; SQLite leaves foreign keys off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _begin_immediate(connection: Connection) -> None:
    # A deferred BEGIN takes the write lock only at the first write, so two read-then-write
    # transactions deadlock and one fails with "database is locked". IMMEDIATE takes the lock up
    # front: writers queue behind each other for up to the busy timeout instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def libpq_url(url: str | URL) -> str | None:
    """The URL as libpq (psycopg itself) takes it, or None when the database is not PostgreSQL."""
    target = _async_url(url)
    if target.get_backend_name() != "postgresql":
        return None
    return target.set(drivername="postgresql").render_as_string(hide_password=False)


class _StorageErrors:
    """See `storage_errors`. A class, not a generator: entered around every statement of the hot
    path, where a generator's context manager costs several times more (docs/performance.md)."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, _kind: object, error: BaseException | None, _traceback: object) -> None:
        if isinstance(error, PoolTimeout):  # before its base class, `OperationalError`
            raise StorageUnavailable("no database connection free in time") from error
        if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
            raise StorageUnavailable(type(error).__name__) from error


_STORAGE_ERRORS = _StorageErrors()  # it keeps no state: one serves every statement


def storage_errors() -> AbstractAsyncContextManager[None]:
    """Around statements run on psycopg directly: what the engine's `_storage_unavailable` hook does
    for SQLAlchemy's. An outage, or no free connection in time, is `StorageUnavailable` (a 503)."""
    return _STORAGE_ERRORS


class AutocommitPool:
    """psycopg's own pool of autocommit connections, for writes that are one statement each.

    Checking a connection out of SQLAlchemy's pool and back costs about 0.18 ms of CPU, psycopg's
    0.02 ms: twice per create, on the gateway's hottest path. A connection that sat idle
    `ping_after_idle` seconds is pinged before use, as the engine's are (`_ping_if_idle`), so a
    PostgreSQL restart during a quiet spell costs no request; the bookkeeping is done here rather
    than in the pool's `check`/`reset` hooks, which run as extra tasks on every checkout and return.
    """

    def __init__(self, pool: AsyncConnectionPool[Any], *, ping_after_idle: float) -> None:
        self._pool = pool
        self._ping_after_idle = ping_after_idle
        self._returned_at: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = weakref.WeakKeyDictionary()

    def connection(self) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        """A connection, back to the pool on leaving; raises `psycopg_pool.PoolTimeout` when none
        is free in time."""
        return _Lent(self)

    async def _return(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._returned_at[connection] = time.monotonic()
        await self._pool.putconn(connection)

    async def _checkout(self) -> psycopg.AsyncConnection[Any]:
        while True:
            connection: psycopg.AsyncConnection[Any] = await self._pool.getconn()
            returned = self._returned_at.get(connection)
            if returned is None or time.monotonic() - returned < self._ping_after_idle:
                return connection
            try:
                await connection.execute("")
            except psycopg.OperationalError:
                # Dead with a restart or failover: the pool drops it and opens another in the
                # background; the next one is tried (each dead one fails at once).
                await self._pool.putconn(connection)
                continue
            except BaseException:
                # Cancelled mid-ping (the client went away): the connection goes back, or the pool
                # would count it as lent for ever and shrink by one.
                await self._pool.putconn(connection)
                raise
            return connection


class _Lent:
    """One checkout of an `AutocommitPool` (a class for the reason `_StorageErrors` is one)."""

    __slots__ = ("_connection", "_pool")

    def __init__(self, pool: AutocommitPool) -> None:
        self._pool = pool

    async def __aenter__(self) -> psycopg.AsyncConnection[Any]:
        self._connection = await self._pool._checkout()
        return self._connection

    async def __aexit__(self, *_exc: object) -> None:
        await self._pool._return(self._connection)


@asynccontextmanager
async def autocommit_pool(
    url: str | URL, *, size: int, timeout: float, connect_timeout: int = 5, ping_after_idle: float = 1.0
) -> AsyncIterator[AutocommitPool | None]:
    """An `AutocommitPool` for a PostgreSQL URL, None for SQLite. The connections open in the
    background, so a server starts while the database is down."""
    conninfo = libpq_url(url)
    if conninfo is None:
        yield None
        return
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo,
        # Grown on demand and kept (psycopg closes only connections idle for ten minutes): no
        # connection is opened per request, and a CLI command opens one, not a pool's worth.
        min_size=1,
        max_size=size,
        timeout=timeout,
        # UTC sessions: timestamps come back as the engine's `UtcDateTime` gives them.
        kwargs={"autocommit": True, "connect_timeout": connect_timeout, "options": "-c TimeZone=UTC"},
        name="paygate-autocommit",
        open=False,
    )
    await pool.open(wait=False)
    try:
        yield AutocommitPool(pool, ping_after_idle=ping_after_idle)
    finally:
        await pool.close()
