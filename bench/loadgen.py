"""A closed-loop load generator in its own process: N clients, a fixed duration, req/s and latencies.

wrk (Debian package `wrk`) when it is installed: written in C, it leaves the two cores to the
servers being measured. Otherwise an aiohttp script with the same interface and output.
Prints one JSON object: requests, seconds, rps, errors, p50/p90/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

RESULT_MARK = "LOADGEN_RESULT "


@attrs.frozen
class Load:
    url: str  # scheme://host:port; the path comes from `path` or `paths`
    method: str = "GET"
    path: str = "/"
    # Paths to cycle through (status reads of many payments); overrides `path`.
    paths: tuple[str, ...] = ()
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    concurrency: int = 32
    duration: float = 10.0


@attrs.frozen
class LoadResult:
    requests: int
    seconds: float
    errors: int  # non-2xx answers, timeouts and socket errors
    p50_ms: float
    p90_ms: float
    p99_ms: float
    engine: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_load(load: Load, *, engine: str = "auto") -> LoadResult:
    """Run `load` from a child process (the measuring client never shares the server's process)."""
    chosen = ("wrk" if shutil.which("wrk") else "python") if engine == "auto" else engine
    if chosen == "wrk":
        return _run_wrk(load)
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "load.json"
        spec.write_text(json.dumps(attrs.asdict(load)))
        out = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", str(spec)], check=True, capture_output=True, text=True
        ).stdout
    return _parse(out, "python")


def _parse(output: str, engine: str) -> LoadResult:
    for line in output.splitlines():
        if line.startswith(RESULT_MARK):
            return LoadResult(**json.loads(line[len(RESULT_MARK):]), engine=engine)
    raise RuntimeError(f"the load generator printed no result:\n{output}")


# --- wrk -------------------------------------------------------------------------------------------

_WRK_SCRIPT = """
wrk.method = {method}
wrk.body = {body}
{headers}
local paths = {{{paths}}}
local n = 0
if #paths > 0 then
  request = function()
    n = n + 1
    return wrk.format(nil, paths[(n % #paths) + 1])
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests": %d, "seconds": %.6f, "errors": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f}}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
"""


def _lua(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for this ASCII text


def _run_wrk(load: Load) -> LoadResult:
    headers = "\n".join(f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in load.headers)
    script = _WRK_SCRIPT.format(
        method=_lua(load.method),
        body=_lua(load.body) if load.body else "nil",
        headers=headers,
        paths=", ".join(_lua(p) for p in load.paths),
        mark=RESULT_MARK,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        done = subprocess.run(
            [
                "wrk", "-t1", f"-c{load.concurrency}", f"-d{load.duration:g}s", "--timeout", "10s",
                "-s", lua.name, load.url.rstrip("/") + load.path,
            ],
            capture_output=True, text=True, check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}")
    return _parse(done.stdout, "wrk")


# --- The aiohttp fallback (runs in the child process) ---------------------------------------------


async def _python_load(load: Load) -> dict[str, float]:
    import aiohttp

    paths = load.paths or (load.path,)
    latencies: list[float] = []
    errors = 0
    base = load.url.rstrip("/")
    headers = dict(load.headers)
    data = load.body.encode() if load.body else None
    started = time.perf_counter()
    deadline = started + load.duration

    async def client(session: aiohttp.ClientSession, offset: int) -> None:
        nonlocal errors
        n = offset
        while time.perf_counter() < deadline:
            n += 1
            sent = time.perf_counter()
            try:
                async with session.request(load.method, base + paths[n % len(paths)], data=data, headers=headers) as r:
                    await r.read()
                    ok = 200 <= r.status < 300
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            latencies.append(time.perf_counter() - sent)
            errors += not ok

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        await asyncio.gather(*(client(session, i * 7919) for i in range(load.concurrency)))
    seconds = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000 if latencies else 0.0

    return {
        "requests": len(latencies), "seconds": seconds, "errors": errors,
        "p50_ms": percentile(50), "p90_ms": percentile(90), "p99_ms": percentile(99),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run one load (a JSON `Load`) with aiohttp; print the result")
    parser.add_argument("spec")
    args = parser.parse_args(argv)
    raw = json.loads(Path(args.spec).read_text())
    load = Load(**{**raw, "paths": tuple(raw["paths"]), "headers": tuple(tuple(h) for h in raw["headers"])})
    import uvloop  # uvicorn[standard] brings it

    print(RESULT_MARK + json.dumps(uvloop.run(_python_load(load))), flush=True)


if __name__ == "__main__":
    main()
