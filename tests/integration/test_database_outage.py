"""Losing the database: requests fail fast with 503 `database_unavailable`, `/ready` says why, the
service recovers by itself, and nothing acknowledged with a 2xx is lost (a
throwaway PostgreSQL server of the test's own restarts, never the machine's)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import httpx
import psycopg
import pytest
from sqlalchemy import text

from application.errors import StorageUnavailable

from adapters.persistence.database import create_engine
from adapters.persistence.probe import DatabaseProbe
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork

from entrypoints.http.errors import error_response

from config.container import Container

from tests.support.gateways import gateway_settings, issue_key, prepare, running_gateway, with_container
from tests.support.postgres_cluster import ThrowawayCluster
from tests.support.servers import free_port

SHOP = 121038  # Eileen flowers
PHONE = "+7 701 521 15 45"
T = TypeVar("T")


def eventually(check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def test_storage_unavailable_is_a_503_with_a_stable_code_and_a_retry_hint() -> None:
    response = error_response(StorageUnavailable("OperationalError"))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert b'"code":"database_unavailable"' in bytes(response.body)
    assert b"OperationalError" not in bytes(response.body)  # the cause is for the logs


@pytest.mark.anyio
async def test_an_unreachable_database_fails_fast_as_storage_unavailable_and_not_ready() -> None:
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            async with SqlAlchemyUnitOfWork(engine) as uow:
                await uow.payments.get("pay_1")
        failed_after = time.monotonic() - started
        services = await DatabaseProbe(engine).services()
    finally:
        await engine.dispose()

    assert failed_after < 2
    assert services["database"]["status"] == "down"
    assert services["database"]["reason"].startswith("database unreachable (")
    assert services["migrations"]["status"] == "unknown"


@pytest.mark.anyio
@pytest.mark.postgres
async def test_no_free_connection_in_time_is_storage_unavailable_not_an_internal_error(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with engine.connect():  # every connection of the pool is busy
            with pytest.raises(StorageUnavailable):
                async with engine.connect():
                    pass
    finally:
        await engine.dispose()


@pytest.mark.anyio
async def test_readiness_names_a_database_that_lags_behind_the_code(unmigrated_database_url: str) -> None:
    engine = create_engine(unmigrated_database_url)
    try:
        services = await DatabaseProbe(engine).services()
    finally:
        await engine.dispose()

    assert services["database"]["status"] == "up"
    assert services["migrations"]["status"] == "down"
    assert "paygate migrate" in services["migrations"]["reason"]


# --- PostgreSQL restarted under load (a server of the test's own, never the machine's) -----------


@attrs.frozen
class Answer:
    message: str
    status: int
    seconds: float
    body: dict[str, Any]
    retry_after: str | None


@pytest.fixture(scope="module")
def restartable_postgres_url(throwaway_postgres: ThrowawayCluster) -> str:
    """An empty database on a PostgreSQL server of this module's own, which the test may restart."""
    with psycopg.connect(throwaway_postgres.url(), autocommit=True, connect_timeout=5) as admin:
        admin.execute("CREATE DATABASE paygate")
    return throwaway_postgres.url("paygate", driver="postgresql+psycopg")


@pytest.mark.postgres
@pytest.mark.disruptive
def test_postgresql_restarted_under_load_answers_503_fast_recovers_alone_and_loses_nothing_acknowledged(
    restartable_postgres_url: str, throwaway_postgres: ThrowawayCluster,
) -> None:
    settings = gateway_settings(restartable_postgres_url)
    prepare(settings)
    key = issue_key(settings, ["payments"])
    answers: list[Answer] = []
    readiness: list[tuple[int, dict[str, Any]]] = []
    stop = threading.Event()
    lock = threading.Lock()

    with running_gateway(settings) as gateway:

        def bill() -> None:
            with httpx.Client(base_url=gateway.base_url, headers=key.header, timeout=30) as http:
                while not stop.is_set():
                    message = f"load {secrets.token_hex(6)}"
                    body = {"shop_id": SHOP, "amount": 50, "phone": PHONE, "message": message}
                    started = time.monotonic()
                    response = http.post("/payments/kaspi/create", json=body, headers={"Idempotency-Key": message})
                    answer = Answer(
                        message, response.status_code, time.monotonic() - started, response.json(),
                        response.headers.get("Retry-After"),
                    )
                    with lock:
                        answers.append(answer)

        def watch_readiness() -> None:
            with httpx.Client(base_url=gateway.base_url, timeout=30) as http:
                while not stop.is_set():
                    response = http.get("/ready")
                    with lock:
                        readiness.append((response.status_code, response.json()))
                    time.sleep(0.05)  # a load balancer's probe interval, not synchronisation

        def acknowledged() -> int:
            with lock:
                return sum(1 for a in answers if a.status == 200)

        workers = [threading.Thread(target=bill) for _ in range(6)] + [threading.Thread(target=watch_readiness)]
        for worker in workers:
            worker.start()
        try:
            eventually(lambda: acknowledged() >= 30, timeout=30, what="payments before the restart")
            throwaway_postgres.restart()
            after_restart = acknowledged()
            # Back by itself: ready again, and billing again, with no restart of the gateway.
            eventually(lambda: readiness and readiness[-1][0] == 200, timeout=30, what="ready again")
            eventually(lambda: acknowledged() >= after_restart + 30, timeout=30, what="payments after the restart")
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=60)

    refused = [a for a in answers if a.status != 200]
    assert refused, "no request met the restart: nothing was tested"
    assert {(a.status, a.body["error"]["code"]) for a in refused} == {(503, "database_unavailable")}
    assert all(a.retry_after == "2" for a in refused)
    assert max(a.seconds for a in refused) < 6, "a request waited on the dead database instead of failing fast"
    not_ready = [body for status, body in readiness if status == 503]
    assert not_ready, "/ready never noticed the outage"
    assert all(body["status"] == "unhealthy" for body in not_ready)
    # The database can go away between the probe and the routes' read: that answer says so too.
    database_down = [body for body in not_ready if body["services"]["database"]["status"] == "down"]
    routes_unreadable = [body for body in not_ready if body["services"]["database"]["status"] == "up"]
    assert database_down, "/ready never said the database was down"
    assert all(body["services"]["database"]["reason"].startswith("database unreachable") for body in database_down)
    assert all(
        body["services"]["routed_providers"]["reason"].startswith("routes unreadable") for body in routes_unreadable
    )

    # Nothing acknowledged is lost: every 2xx names a payment that is stored, as it was answered.
    acknowledged_ids = {a.body["external_id"]: a.message for a in answers if a.status == 200}

    async def stored(container: Container) -> dict[str, tuple[str, int, str]]:
        async with container.engine().connect() as connection:
            rows = await connection.execute(
                text("SELECT external_id, description, amount_minor, status FROM payments WHERE external_id = ANY(:ids)"),
                {"ids": list(acknowledged_ids)},
            )
            return {row[0]: (row[1], row[2], row[3]) for row in rows}

    found = with_container(settings, stored)
    assert {ext: message for ext, (message, _amount, _status) in found.items()} == acknowledged_ids
    assert {(amount, status) for _message, amount, status in found.values()} == {(5000, "pending")}
