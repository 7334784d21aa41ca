"""`make bench`: every scenario, Paygate side by side with the floor, printed as one table.

Both servers run as child processes (uvicorn, one worker) against the same standalone Kaspi
simulator and a fresh PostgreSQL database; the load comes from a third process (`bench.loadgen`).
Usage: `python -m bench.run [--seconds 10] [--only 1,2,3,4,5] [--repeat 1] [--poller-payments 10000]`;
`--paygate-root DIR --paygate-only` measures another copy of the tree (before/after a change).
Every run keeps its table, results.json and the servers' logs in `var/bench/<time>/`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import psycopg

from bench.loadgen import Load, LoadResult, run_load
from bench.processes import ROOT, Server, Simulator, free_port
from bench.report import Row, render

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_DATABASE", "paygate_bench")
SHOP_ID = 121038
ORGANIZATION_BIN = "920317450731"
DEVICE_TOKEN = "5b1f0a2e-6c1d-4c8e-9a3b-121038000001"
CREATE_PATH = "/payments/kaspi/create"
STATUS_PATH = "/payments/kaspi/status/"
# The same body for both servers; the phone already in the form the proxy takes, which the floor
# passes through and Paygate still validates.
CREATE_BODY = json.dumps({"shop_id": SHOP_ID, "amount": 5000, "phone": "77015211545", "message": "Order 1001"})
WARMUP_SECONDS = 3.0
STATUS_SAMPLE = 2000


@attrs.frozen
class Measured:
    """One load against one server: the client's view plus the server's CPU and memory."""

    load: LoadResult
    cpu_percent: float
    cpu_ms_per_request: float
    peak_rss_mb: float
    load_average: float
    steal_percent: float


@attrs.define
class Bench:
    seconds: float
    repeat: int
    run_dir: Path
    database_url: str  # libpq form, for psycopg and the floor
    simulator: Simulator
    # The tree Paygate runs from: another checkout compares two versions on the same run.
    paygate_root: Path = ROOT
    sides: tuple[str, ...] = ("floor", "paygate")
    api_key: str = ""

    # --- Servers ----------------------------------------------------------------------------------

    def gateway_env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url.replace("postgresql://", "postgresql+psycopg://", 1),
            "PRODUCTION_API_URL": self.simulator.proxy_url,
            "KASPI_ACCESS_TOKEN": self.simulator.access_token,
            "SECRETS_KEY_FILE": str(self.run_dir / "secrets.key"),
            # The limiter stays in the measured path, but a benchmark key is never throttled.
            "RATE_LIMIT_PER_SECOND": "1000000",
            "RATE_LIMIT_BURST": "1000000",
            "LOG_LEVEL": "INFO",
        }

    def paygate(self, label: str) -> Server:
        port = free_port()
        return Server(
            "paygate",
            [sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port)],
            port=port, env=self.gateway_env(), log=self.run_dir / f"paygate-{label}.log", cwd=self.paygate_root,
        )

    def floor(self, label: str) -> Server:
        port = free_port()
        return Server(
            "floor",
            [
                sys.executable, "-m", "bench.floor", "--port", str(port),
                "--database-url", self.database_url, "--provider-url", self.simulator.proxy_url,
                "--access-token", self.simulator.access_token,
                "--organization-bin", ORGANIZATION_BIN, "--device-token", DEVICE_TOKEN,
            ],
            port=port, log=self.run_dir / f"floor-{label}.log",
        )

    def cli(self, *args: str) -> str:
        """A `paygate` command against the bench database; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", *args],
            cwd=self.paygate_root, env={**os.environ, **self.gateway_env()},
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"paygate {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def prepare_gateway(self) -> None:
        self.cli("migrate")
        self.cli("routes", "import", str(ROOT / "demo" / "sellers.csv"))
        self.api_key = self.cli("keys", "create", "--name", "bench", "--scope", "payments").strip().splitlines()[-1]

    # --- Loads ------------------------------------------------------------------------------------

    def headers(self, server: Server) -> tuple[tuple[str, str], ...]:
        headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
        if server.name == "paygate":
            headers += (("Authorization", f"Bearer {self.api_key}"),)
        return headers

    def create_load(self, server: Server, *, concurrency: int, seconds: float) -> Load:
        return Load(
            url=server.url, method="POST", path=CREATE_PATH, body=CREATE_BODY,
            headers=self.headers(server), concurrency=concurrency, duration=seconds,
        )

    def status_load(self, server: Server, *, concurrency: int, seconds: float) -> Load:
        table, column = ("payments", "external_id") if server.name == "paygate" else ("floor_payments", "external_id")
        with psycopg.connect(self.database_url) as connection:
            ids = [
                row[0]
                for row in connection.execute(
                    f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY random() LIMIT %s",
                    (STATUS_SAMPLE,),
                )
            ]
        if not ids:
            raise RuntimeError(f"no payments to read in {table}")
        return Load(
            url=server.url, method="GET", paths=tuple(STATUS_PATH + i for i in ids),
            headers=self.headers(server), concurrency=concurrency, duration=seconds,
        )

    def checkpoint(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.execute("CHECKPOINT")

    def measure(self, server: Server, load: Load) -> Measured:
        run_load(attrs.evolve(load, duration=WARMUP_SECONDS))  # pools, caches, prepared statements
        load_average = os.getloadavg()[0]
        before_cpu, before_stat = server.cpu_seconds(), _cpu_stat()
        result = run_load(load)
        cpu = server.cpu_seconds() - before_cpu
        return Measured(
            load=result,
            cpu_percent=100 * cpu / result.seconds,
            cpu_ms_per_request=1000 * cpu / max(result.requests, 1),
            peak_rss_mb=server.peak_rss_mb(),
            load_average=load_average,
            steal_percent=_steal_percent(before_stat, _cpu_stat()),
        )

    def side_by_side(
        self, label: str, make_load: Callable[[Server], Load], *, before: Callable[[Server], None] | None = None
    ) -> dict[str, list[Measured]]:
        """Each server fresh (started for this scenario), floor and Paygate alternating, `repeat` times.

        Who goes first alternates too, and every run starts from a checkpoint: otherwise the second
        side of each pair paid for the first's dirty buffers (a checkpoint landing in its run).
        """
        runs: dict[str, list[Measured]] = {side: [] for side in self.sides}
        for attempt in range(self.repeat):
            for side in self.sides if attempt % 2 == 0 else self.sides[::-1]:
                with getattr(self, side)(f"{label}-{attempt}") as server:
                    if before is not None:
                        before(server)
                    self.checkpoint()
                    measured = self.measure(server, make_load(server))
                runs[side].append(measured)
                _progress(f"scenario {label}, {side}: {_brief(measured)}")
        return runs


# --- Scenarios ------------------------------------------------------------------------------------


def scenario_create(bench: Bench, *, label: str, latency_ms: int, concurrency: int) -> dict[str, list[Measured]]:
    bench.simulator.set_knobs(latency_ms=latency_ms)
    return bench.side_by_side(
        label, lambda server: bench.create_load(server, concurrency=concurrency, seconds=bench.seconds)
    )


def scenario_status(bench: Bench, *, concurrency: int) -> dict[str, list[Measured]]:
    bench.simulator.set_knobs(latency_ms=0)

    def seed(server: Server) -> None:
        # Payments to read, made through the server itself (pending at the simulator, as most reads are).
        run_load(bench.create_load(server, concurrency=concurrency, seconds=2.0))

    return bench.side_by_side(
        "3", lambda server: bench.status_load(server, concurrency=concurrency, seconds=bench.seconds), before=seed
    )


def scenario_poller(bench: Bench, *, payments: int) -> list[Row]:
    """Issue 3's poller benchmark (`bench/poller.py`): its own database and simulator, 1 then 2 pollers."""
    from bench import poller

    folder = bench.run_dir / "poller"
    folder.mkdir(exist_ok=True)
    runs = poller.measure(payments=payments, rate=200.0, latency_ms=50, pollers=(1, 2), run_dir=folder)
    title = f"4 poller: {payments:,} pending, provider 50 ms, limit 200 req/s"
    rows = []
    for run in runs:
        two = run.pollers == 2
        _progress(f"scenario 4, {run.pollers} poller(s): wall {run.wall:.1f} s (own round {run.sweep:.1f} s), "
                  f"bound {run.bound:.1f} s, checked {run.checked}, errors {run.errors}, each once: {run.once}")
        rows += [
            Row(title if run.pollers == 1 else "", f"{run.pollers} poller{'s' if two else ''}: wall s",
                f"{run.wall:.1f}", f"{run.bound:.1f} (bound)", f"{run.wall / run.bound:.2f}×",
                f"≤ {poller.TARGET:g}×" if two else "", met=run.wall / run.bound <= poller.TARGET if two else None),
            Row("", "  own round s (no start-up)", f"{run.sweep:.1f}", "", f"{run.sweep / run.bound:.2f}×", ""),
            Row("", "  each checked once / errors", f"{'yes' if run.once else 'NO'} / {run.errors}", "", "",
                "yes / 0", met=run.once and run.errors == 0),
        ]
    return rows


# --- Helpers --------------------------------------------------------------------------------------


def _cpu_stat() -> list[int]:
    with open("/proc/stat") as stat:
        return [int(v) for v in stat.readline().split()[1:]]


def _steal_percent(before: list[int], after: list[int]) -> float:
    delta = [a - b for a, b in zip(after, before, strict=True)]
    total = sum(delta[:8]) or 1
    return 100 * delta[7] / total


def _brief(m: Measured) -> str:
    r = m.load
    return (
        f"{r.rps:,.0f} req/s, p50/p90/p99 {r.p50_ms:.1f}/{r.p90_ms:.1f}/{r.p99_ms:.1f} ms, {r.errors} errors, "
        f"server CPU {m.cpu_percent:.0f}% ({m.cpu_ms_per_request:.2f} ms/request), "
        f"peak RSS {m.peak_rss_mb:.0f} MB, load {m.load_average:.2f}, "
        f"steal {m.steal_percent:.0f}%"
    )


def _progress(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def _median(runs: list[Measured]) -> Measured:
    """The run with the median throughput (a whole run, so its latencies belong to it)."""
    return sorted(runs, key=lambda m: m.load.rps)[len(runs) // 2]


@contextmanager
def _database() -> Iterator[str]:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{DATABASE}"


def _drop_database() -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def _rows(
    label: str,
    title: str,
    runs: dict[str, list[Measured]],
    *,
    ratio_target: float | None,
    p99_limit_ms: float | None = None,
) -> list[Row]:
    """req/s with the ratio, latencies, errors and server CPU of the median runs."""
    paygate = _median(runs["paygate"])
    floor = _median(runs["floor"]) if runs.get("floor") else None
    ratio = paygate.load.rps / floor.load.rps if floor and floor.load.rps else None
    strict = p99_limit_ms is not None

    def other(figure: Callable[[Measured], str]) -> str:
        return figure(floor) if floor else "-"

    return [
        Row(f"{label} {title}", "req/s", f"{paygate.load.rps:,.0f}", other(lambda m: f"{m.load.rps:,.0f}"),
            f"{ratio:.2f}×" if ratio is not None else "", f"≥ {ratio_target:g}×" if ratio_target else "",
            met=None if ratio_target is None or ratio is None else ratio >= ratio_target),
        Row("", "p50 / p90 / p99 ms", _latencies(paygate.load), other(lambda m: _latencies(m.load)), "",
            f"p99 ≤ {p99_limit_ms:g} ms" if strict else "",
            met=paygate.load.p99_ms <= p99_limit_ms if p99_limit_ms is not None else None),
        Row("", "errors", str(paygate.load.errors), other(lambda m: str(m.load.errors)), "", "0" if strict else "",
            met=paygate.load.errors == 0 if strict else None),
        Row("", "server CPU", f"{paygate.cpu_percent:.0f}%", other(lambda m: f"{m.cpu_percent:.0f}%"), "", ""),
        Row("", "server CPU per request", f"{paygate.cpu_ms_per_request:.2f} ms",
            other(lambda m: f"{m.cpu_ms_per_request:.2f} ms"),
            f"{paygate.cpu_ms_per_request / floor.cpu_ms_per_request:.1f}×" if floor else "", ""),
    ]


def _latencies(r: LoadResult) -> str:
    return f"{r.p50_ms:.0f} / {r.p90_ms:.0f} / {r.p99_ms:.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run (after a 3 s warm-up)")
    parser.add_argument("--only", default="1,2,3,4,5", help="comma-separated scenario numbers")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; the median run is reported")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--paygate-root", type=Path, default=ROOT, help="run Paygate from another copy of the tree")
    parser.add_argument("--paygate-only", action="store_true", help="skip the floor (comparing Paygate versions)")
    parser.add_argument("--poller-payments", type=int, default=10_000, help="pending payments of scenario 4")
    args = parser.parse_args(argv)
    only = {int(n) for n in args.only.split(",") if n.strip()}
    run_dir = ROOT / "var" / "bench" / datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    machine = _machine()
    _progress(f"{machine}; Paygate from {args.paygate_root}; logs in {run_dir.relative_to(ROOT)}")
    rows: list[Row] = []
    results: dict[str, Any] = {"machine": machine}
    try:
        with _database() as database_url, Simulator(port=free_port(), log=run_dir / "simulator.log") as simulator:
            bench = Bench(seconds=args.seconds, repeat=args.repeat, run_dir=run_dir, database_url=database_url,
                          simulator=simulator, paygate_root=args.paygate_root.resolve(),
                          sides=("paygate",) if args.paygate_only else ("floor", "paygate"))
            bench.prepare_gateway()
            if 1 in only:
                runs = scenario_create(bench, label="1", latency_ms=0, concurrency=32)
                rows += _rows("1", "create, provider 0 ms, 32 clients", runs, ratio_target=0.6)
                results["1"] = runs
            if 2 in only or 5 in only:
                runs = scenario_create(bench, label="2", latency_ms=200, concurrency=400)
                paygate = _median(runs["paygate"])
                rows += _rows("2", "create, provider 200 ms, 400 clients", runs, ratio_target=0.9, p99_limit_ms=250)
                results["2"] = runs
                if 5 in only:
                    floor_rss = f"{_median(runs['floor']).peak_rss_mb:.0f}" if runs.get("floor") else "-"
                    rows.append(Row("5 peak RSS over scenario 2", "MB", f"{paygate.peak_rss_mb:.0f}",
                                    floor_rss, "", "≤ 200 MB", met=paygate.peak_rss_mb <= 200))
            if 3 in only:
                runs = scenario_status(bench, concurrency=32)
                rows += _rows("3", "status read, provider 0 ms, 32 clients", runs, ratio_target=None)
                results["3"] = runs
            if 4 in only:
                rows += scenario_poller(bench, payments=args.poller_payments)
    finally:
        if not args.keep_database:
            _drop_database()
    elapsed = time.monotonic() - started
    table = render(rows, header=f"Paygate vs floor — {machine}; {elapsed:.0f} s in all")
    print(table)
    (run_dir / "table.txt").write_text(table + "\n")
    (run_dir / "results.json").write_text(json.dumps(results, default=_as_json, indent=2))
    return 0


def _machine() -> str:
    engine = "wrk" if shutil.which("wrk") else "aiohttp script"
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start, load generator: {engine}"


def _as_json(value: Any) -> object:
    if attrs.has(type(value)):
        return attrs.asdict(value)
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
