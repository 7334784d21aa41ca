"""The Kaspi proxy simulator as a server of its own, so that its CPU is not the measured server's."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from simulators.kaspi import (
    KaspiSimulatorState,
    create_kaspi_simulator,
)

PROXY_PATH = "/api/v2/paymentkaspi"
ACCESS_TOKEN = "bench-access-token"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="serve the Kaspi proxy simulator on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=int, default=0, help="answer delay; change it later via POST /knobs")
    parser.add_argument("--access-token", default=ACCESS_TOKEN)
    args = parser.parse_args(argv)
    app = create_kaspi_simulator(
        access_token=args.access_token, state=KaspiSimulatorState(latency_ms=args.latency_ms)
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False, backlog=4096)


if __name__ == "__main__":
    main()
