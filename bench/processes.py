"""Servers under test as child processes: started, waited for, measured (CPU, peak RSS), stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Self

from bench.simulator import ACCESS_TOKEN, PROXY_PATH

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Server:
    """`argv` run from `cwd` (the repository root by default); ready once `port` accepts connections."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        cwd: Path = ROOT,
        startup_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self._argv = list(argv)
        self._env = {**os.environ, **(env or {})}
        self._log_path = log
        self._cwd = cwd
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> Self:
        self._log = open(self._log_path, "ab") if self._log_path else None
        self._process = subprocess.Popen(
            self._argv, cwd=self._cwd, env=self._env, stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}; see {self._log_path}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on port {self.port} within {self._startup_timeout:g} s")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully, lifespan included
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def peak_rss_mb(self) -> float:
        """The process's resident-memory high-water mark (VmHWM), in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc: peak RSS needs Linux")


class Simulator(Server):
    """The Kaspi proxy simulator, standalone; its latency can change between scenarios."""

    access_token = ACCESS_TOKEN

    def __init__(self, *, port: int, latency_ms: int = 0, log: Path | None = None) -> None:
        super().__init__(
            "kaspi simulator",
            [sys.executable, "-m", "bench.simulator", "--port", str(port), "--latency-ms", str(latency_ms)],
            port=port,
            log=log,
        )

    @property
    def proxy_url(self) -> str:
        return self.url + PROXY_PATH

    def set_knobs(self, **knobs: object) -> None:
        request = urllib.request.Request(
            self.url + "/knobs", data=json.dumps(knobs).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
