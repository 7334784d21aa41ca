"""The poller against Kaspi's rate limit: how close one and two pollers come to the bound.

N pending Kaspi payments (default 10,000) wait in a fresh PostgreSQL database and in the standalone
Kaspi simulator (50 ms per answer). Each run makes every check due, starts `paygate poll --once` in
1 or 2 processes at once (the provider's limit split between them), and measures the wall time
until the last one exits, next to the bound N / limit. It also checks that every payment was asked
about exactly once. Not a test: `python -m bench.poller [--payments 10000] [--rate 200] [--pollers 1,2]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import update
from sqlalchemy.engine import make_url

from domain.money import Money
from domain.payment import Payment, PaymentMethod
from domain.polling import PaymentCheck

from application.manage_routes import RouteSpec

from adapters.persistence import tables
from adapters.persistence.migrate import upgrade
from adapters.secrets import generate_key

from config.container import build_container, close_resources, open_resources
from config.settings import Settings

from bench.processes import ROOT, Simulator, free_port

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SHOP_ID, ORGANIZATION_BIN = 121038, "920317450731"
DEVICE_TOKEN = "5b1f0a2e-6c1d-4c8e-9a3b-121038000001"
TARGET = 1.15  # the goal: within 15 % of the bound with two pollers


def _database(name: str, *, create: bool) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        if create:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _status_counts(simulator: Simulator) -> Counter[str]:
    with urllib.request.urlopen(simulator.url + "/requests", timeout=60) as answer:
        requests = json.load(answer)
    return Counter(r["params"].get("externalId", "") for r in requests if r["operation"] == "status")


async def _bills(simulator: Simulator, count: int) -> list[str]:
    """`count` remote bills waiting in the simulator, created through the proxy's own `create`."""
    params = {
        "phone": "77015211545", "amount": "5000", "message": "bench", "organizationBin": ORGANIZATION_BIN,
        "deviceToken": DEVICE_TOKEN, "access_token": simulator.access_token,
    }
    limit = asyncio.Semaphore(64)
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as client:

        async def create() -> str:
            async with limit:
                answer = await client.get(f"{simulator.proxy_url}/create/", params=params)
            return str(answer.json()["data"]["externalId"])

        return list(await asyncio.gather(*(create() for _ in range(count))))


async def _seed(settings: Settings, external_ids: Sequence[str]) -> None:
    """The route and the pending payments, each with a check; two hours old, so a rescheduled check
    is minutes away and never due again within a run."""
    container = build_container(settings)
    await open_resources(container)
    try:
        await container.manage_routes().add(
            RouteSpec(shop_id=SHOP_ID, provider="kaspi", merchant_account=ORGANIZATION_BIN,
                      credentials={"device_token": DEVICE_TOKEN})
        )
        created = datetime.now(UTC) - timedelta(hours=2)
        for start in range(0, len(external_ids), 1000):
            async with container.uow()() as uow:
                for n, external_id in enumerate(external_ids[start:start + 1000], start=start):
                    payment = Payment(
                        id=f"pay_bench_{n:06d}", shop_id=SHOP_ID, provider="kaspi", method=PaymentMethod.REMOTE,
                        amount=Money(500000, "KZT"), merchant_account=ORGANIZATION_BIN, description="bench",
                        external_id=external_id, provider_status="Wait", created_at=created, updated_at=created,
                        expires_at=created + timedelta(hours=24),
                    )
                    await uow.payments.add(payment)
                    await uow.checks.add(PaymentCheck(payment.id, next_check_at=created))
                await uow.commit()
    finally:
        await close_resources(container)


async def _make_all_due(settings: Settings) -> None:
    container = build_container(settings)
    await open_resources(container)
    try:
        async with container.engine().begin() as connection:
            await connection.execute(
                update(tables.payment_checks).values(
                    next_check_at=datetime.now(UTC) - timedelta(seconds=1), leased_until=None
                )
            )
    finally:
        await close_resources(container)


def _run(environment: dict[str, str], pollers: int, rate: float, log: Path) -> tuple[float, list[dict[str, Any]]]:
    env = {**os.environ, **environment, "KASPI_RATE_LIMIT_PER_SECOND": str(rate / pollers)}
    started = time.perf_counter()
    with log.open("a") as output:
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "entrypoints.cli", "poll", "--once"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=output, text=True,
            )
            for _ in range(pollers)
        ]
        outputs = [p.communicate()[0] for p in processes]
    wall = time.perf_counter() - started
    for process in processes:
        if process.returncode != 0:
            raise RuntimeError(f"a poller exited with {process.returncode}; see {log}")
    return wall, [json.loads(out.strip().splitlines()[-1]) for out in outputs]


class PollerRun(NamedTuple):
    pollers: int
    limit_each: float
    checked: int
    errors: int
    once: bool  # every payment asked about exactly once
    wall: float  # from starting the processes to the last exit
    sweep: float  # the slowest poller's own round
    bound: float  # payments / rate


def measure(
    *,
    payments: int = 10_000,
    rate: float = 200.0,
    latency_ms: int = 50,
    pollers: Sequence[int] = (1, 2),
    concurrency: int = 32,
    batch: int = 100,
    run_dir: Path | None = None,
) -> list[PollerRun]:
    """One run per entry of `pollers`, on one seeded database and simulator (`bench.run` uses it too)."""
    run_dir = run_dir or Path(tempfile.mkdtemp(prefix="paygate-bench-poller-"))
    name = f"paygate_bench_poller_{secrets.token_hex(4)}"
    sqlalchemy_url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )
    _database(name, create=True)
    try:
        with Simulator(port=free_port(), latency_ms=0, log=run_dir / "simulator.log") as simulator:
            environment = {
                "DATABASE_URL": sqlalchemy_url,
                "PRODUCTION_API_URL": simulator.proxy_url,
                "KASPI_ACCESS_TOKEN": simulator.access_token,
                "SECRETS_KEY": generate_key(),
                "POLL_CONCURRENCY": str(concurrency),
                "POLL_BATCH_SIZE": str(batch),
                "LOG_LEVEL": "WARNING",
            }
            settings = Settings.from_env(environment)
            print(f"seeding {payments} pending payments ...", file=sys.stderr)
            asyncio.run(upgrade(sqlalchemy_url))
            external_ids = asyncio.run(_bills(simulator, payments))
            asyncio.run(_seed(settings, external_ids))
            simulator.set_knobs(latency_ms=latency_ms)
            bound = payments / rate
            rows: list[PollerRun] = []
            for count in pollers:
                asyncio.run(_make_all_due(settings))
                before = _status_counts(simulator)
                wall, summaries = _run(environment, count, rate, run_dir / "pollers.log")
                asked = _status_counts(simulator) - before
                once = sorted(asked.values()) == [1] * payments and set(asked) == set(external_ids)
                checked = sum(s["poll"]["checked"] for s in summaries)
                errors = sum(s["poll"]["errors"] for s in summaries)
                sweep = max(s["seconds"] for s in summaries)  # the pollers' own rounds, without process start-up
                rows.append(PollerRun(count, rate / count, checked, errors, once, wall, sweep, bound))
    finally:
        _database(name, create=False)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument(
        "--rate", type=float, default=200.0, help="the provider's limit, requests/s, shared by all pollers"
    )
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--pollers", default="1,2", help="comma-separated numbers of pollers to run, one run each")
    parser.add_argument("--concurrency", type=int, default=32, help="POLL_CONCURRENCY of each poller")
    parser.add_argument("--batch", type=int, default=100, help="POLL_BATCH_SIZE of each poller")
    args = parser.parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="paygate-bench-poller-"))
    rows = measure(
        payments=args.payments, rate=args.rate, latency_ms=args.latency_ms,
        pollers=[int(n) for n in args.pollers.split(",")], concurrency=args.concurrency, batch=args.batch,
        run_dir=run_dir,
    )
    bound = args.payments / args.rate
    print(f"\n{args.payments} pending Kaspi payments, simulator latency {args.latency_ms} ms, "
          f"provider limit {args.rate:g} req/s (bound {bound:.1f} s), concurrency {args.concurrency} per poller\n")
    print(f"{'pollers':>7}  {'limit each':>10}  {'checked':>7}  {'errors':>6}  {'once':>4}  {'bound s':>7}  "
          f"{'wall s':>7}  {'x bound':>7}  {'sweep s':>7}  {'x bound':>7}")
    for pollers, each, checked, errors, once, wall, sweep, bound_s in rows:
        print(f"{pollers:>7}  {each:>10g}  {checked:>7}  {errors:>6}  {'yes' if once else 'NO':>4}  {bound_s:>7.1f}  "
              f"{wall:>7.1f}  {wall / bound_s:>7.3f}  {sweep:>7.1f}  {sweep / bound_s:>7.3f}")
    print("\nwall: from starting the processes to the last exit; sweep: the slowest poller's own round")
    two = [r for r in rows if r[0] == 2]
    if two:
        verdict = "met" if two[0][5] / two[0][7] <= TARGET else "missed"
        print(f"target with two pollers, wall <= {TARGET} x bound: {verdict}")
    print(f"logs: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
