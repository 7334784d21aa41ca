"""The floor: the least work any gateway that records a payment durably must do, as a bare app.

Per create: parse the same JSON body, make the same one call to the Kaspi proxy with aiohttp (the
fastest asyncio HTTP client here), one `INSERT ... RETURNING` and one commit through psycopg's
async pool, answer. Per status read: one `SELECT`, the same status call, answer. No auth, no
routing, no validation beyond what the wire needs, no audit, no logging: nothing Paygate could skip.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import uvicorn
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_payments (
    id BIGSERIAL PRIMARY KEY,
    shop_id BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    phone TEXT NOT NULL,
    message TEXT NOT NULL,
    external_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS floor_payments_external_id ON floor_payments (external_id);
"""
INSERT = (
    "INSERT INTO floor_payments (shop_id, amount_minor, phone, message, external_id, status)"
    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
)
SELECT = "SELECT status FROM floor_payments WHERE external_id = %s"


def create_floor_app(
    *,
    database_url: str,
    provider_url: str,
    access_token: str,
    organization_bin: str,
    device_token: str,
    pool_size: int = 20,
) -> Starlette:
    """`database_url` is a libpq URL (`postgresql://...`); `provider_url` the proxy's base URL."""
    state: dict[str, Any] = {}
    base = provider_url.rstrip("/")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(database_url, min_size=pool_size, max_size=pool_size, open=False)
        await pool.open(wait=True)
        async with pool.connection() as connection:
            await connection.execute(SCHEMA)
        # No connection cap: a cap would queue calls in the client and the floor would not be one.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        state.update(pool=pool, session=session)
        try:
            yield
        finally:
            await session.close()
            await pool.close()

    async def ask(operation: str, params: dict[str, str]) -> dict[str, object]:
        session: aiohttp.ClientSession = state["session"]
        async with session.get(f"{base}/{operation}/", params={**params, "access_token": access_token}) as answer:
            data: dict[str, object] = json.loads(await answer.read())["data"]
            return data

    async def create(request: Request) -> Response:
        # Decimal, as Paygate parses amounts: a float never comes near an amount.
        body = json.loads(await request.body(), parse_float=Decimal)
        amount = body["amount"]
        data = await ask(
            "create",
            {
                "phone": body["phone"],
                "amount": str(amount),
                "message": body.get("message", ""),
                "organizationBin": organization_bin,
                "deviceToken": device_token,
            },
        )
        pool: AsyncConnectionPool = state["pool"]
        async with pool.connection() as connection:  # commits on leaving
            cursor = await connection.execute(
                INSERT,
                (body["shop_id"], int(Decimal(amount) * 100), body["phone"], body.get("message", ""),
                 data["externalId"], data["status"]),
            )
            await cursor.fetchone()
        return JSONResponse(
            {"success": True, "external_id": data["externalId"], "status": data["status"],
             "organization_bin": organization_bin}
        )

    async def status(request: Request) -> Response:
        external_id = request.path_params["external_id"]
        pool: AsyncConnectionPool = state["pool"]
        async with pool.connection() as connection:
            row = await (await connection.execute(SELECT, (external_id,))).fetchone()
        if row is None:
            return JSONResponse({"success": False}, 404)
        data = await ask("status", {"externalId": external_id})
        return JSONResponse({"success": True, "external_id": external_id, "status": data["status"]})

    return Starlette(
        routes=[
            Route("/payments/kaspi/create", create, methods=["POST"]),
            Route("/payments/kaspi/status/{external_id}", status, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="serve the floor app on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True, help="postgresql://user@host:port/db")
    parser.add_argument("--provider-url", required=True)
    parser.add_argument("--access-token", required=True)
    parser.add_argument("--organization-bin", required=True)
    parser.add_argument("--device-token", required=True)
    args = parser.parse_args(argv)
    app = create_floor_app(
        database_url=args.database_url,
        provider_url=args.provider_url,
        access_token=args.access_token,
        organization_bin=args.organization_bin,
        device_token=args.device_token,
    )
    # The same server settings as `paygate serve`: uvloop and httptools (uvicorn's "auto").
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
