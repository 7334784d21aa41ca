"""Which HTTP client for provider calls: each option against the standalone Kaspi simulator.

`python -m bench.clients [--concurrency 32] [--seconds 4]` prints requests/s and the client's own
CPU time per call (the part a gateway pays), for httpx's default transport, httpx on the
`httpx-aiohttp` package's transport (when installed), httpx on Paygate's transport
(`build_http_client`) and aiohttp alone.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import httpx

from adapters.providers.http_client import build_http_client

from bench.processes import Simulator, free_port

Call = Callable[[], Awaitable[object]]
LIMIT = 200


async def _drive(call: Call, *, concurrency: int, seconds: float) -> tuple[float, float]:
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return done / wall, cpu / max(done, 1) * 1e6


async def _measure(
    url: str, params: dict[str, str], *, concurrency: int, seconds: float
) -> list[tuple[str, float, float]]:
    rows = []
    limits = httpx.Limits(max_connections=LIMIT, max_keepalive_connections=LIMIT, keepalive_expiry=4.0)
    options: list[tuple[str, Callable[[], httpx.AsyncClient]]] = [
        ("httpx, default transport", lambda: httpx.AsyncClient(limits=limits, trust_env=False)),
    ]
    try:
        from httpx_aiohttp import AiohttpTransport as PackagedTransport

        options.append(
            (
                "httpx, httpx-aiohttp transport",
                lambda: httpx.AsyncClient(transport=PackagedTransport(limits=limits), trust_env=False),
            )
        )
    except ImportError:
        pass
    options.append(
        ("httpx, build_http_client (Paygate)", lambda: build_http_client(timeout=15.0, max_connections=LIMIT))
    )
    for name, make in options:
        async with make() as client:

            async def call(client: httpx.AsyncClient = client) -> object:
                return (await client.get(url, params=params)).content

            await _drive(call, concurrency=concurrency, seconds=1.0)  # warm the pool
            rows.append((name, *await _drive(call, concurrency=concurrency, seconds=seconds)))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=LIMIT)) as session:

        async def raw() -> object:
            async with session.get(url, params=params) as answer:
                return await answer.read()

        await _drive(raw, concurrency=concurrency, seconds=1.0)
        rows.append(("aiohttp alone", *await _drive(raw, concurrency=concurrency, seconds=seconds)))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args(argv)
    with Simulator(port=free_port()) as simulator:
        # A status call: no state grows in the simulator, whatever the number of calls.
        url = f"{simulator.proxy_url}/status/"
        params = {"externalId": "12800000001", "access_token": simulator.access_token}
        from uvloop import run

        rows = run(_measure(url, params, concurrency=args.concurrency, seconds=args.seconds))
    print(f"provider-call clients, {args.concurrency} concurrent calls to the local Kaspi simulator")
    print(f"{'client':38} {'req/s':>8} {'client CPU per call':>20}")
    for name, rps, cpu_us in rows:
        print(f"{name:38} {rps:8.0f} {cpu_us:17.0f} µs")


if __name__ == "__main__":
    main()
