"""`paygate webhooks tail`: a webhook receiver on this machine that prints what Paygate delivers.

It subscribes itself (straight through the database, like every CLI command), listens on
127.0.0.1, checks every delivery's signature as the README tells integrators to, prints one line
per verified event (or the whole event with `--json`), and unsubscribes when stopped (Ctrl-C).
A delivery whose signature does not verify gets 400 and is reported on stderr, never printed as
an event. For a newcomer's second terminal, and for an operator checking what a CRM receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.notifications.wire import EVENT_ID_HEADER, SIGNATURE_HEADER, verify_signature

from config.container import Container

PATH = "/paygate-webhooks-tail"
ACTOR = "cli"


def event_line(event: dict[str, Any], *, redelivery: bool = False) -> str:
    """`payment.succeeded pay_... #2 succeeded 500000 KZT kaspi shop 121038`: what a person reads."""
    payment = event.get("data", {}).get("payment", {})
    refund = event.get("data", {}).get("refund")
    parts = [
        str(event.get("type")),
        str(event.get("payment_id")),
        f"#{event.get('sequence')}",
        str(payment.get("status")),
        f"{payment.get('amount')} {payment.get('currency')}",
        f"{payment.get('provider')} shop {payment.get('shop_id')}",
    ]
    if refund:
        parts.append(f"refund {refund.get('id')} {refund.get('amount')} {refund.get('status')}")
    if redelivery:
        parts.append("(again: the same event id was delivered before)")
    return " ".join(parts)


def receiver(secret: str, *, as_json: bool, out: TextIO, errors: TextIO) -> Starlette:
    """The receiving endpoint: 2xx for a verified delivery, 400 for anything else."""
    seen: set[str] = set()

    async def receive(request: Request) -> Response:
        body = await request.body()
        if not verify_signature(secret, request.headers.get(SIGNATURE_HEADER, ""), body, now=int(time.time())):
            print(f"refused a delivery: its {SIGNATURE_HEADER} does not verify (or is stale)", file=errors, flush=True)
            return Response("bad signature", status_code=400)
        try:
            event = msgspec.json.decode(body)
        except msgspec.DecodeError:
            print("refused a delivery: signed, but not JSON", file=errors, flush=True)
            return Response("not JSON", status_code=400)
        event_id = request.headers.get(EVENT_ID_HEADER, "")
        # A redelivery carries the same event id: a real receiver acts on it once.
        redelivery = event_id in seen
        seen.add(event_id)
        line = msgspec.json.encode(event).decode() if as_json else event_line(event, redelivery=redelivery)
        print(line, file=out, flush=True)
        return Response(status_code=204)

    return Starlette(routes=[Route(PATH, receive, methods=["POST"])])


class _Receiver(uvicorn.Server):
    """uvicorn, minus its signal handling: uvicorn raises the signal again once it has stopped,
    which would interrupt the unsubscribing that must follow. The tail stops it itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        self.should_exit = True


async def tail(
    container: Container,
    *,
    host: str,
    port: int,
    event_types: Sequence[str] | None,
    as_json: bool,
    out: TextIO = sys.stdout,
    errors: TextIO = sys.stderr,
) -> int:
    # Bound before subscribing: a busy port fails here, leaving no subscription behind.
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError:
        listening.close()
        raise
    bound_port = listening.getsockname()[1]
    url = f"http://{f'[{host}]' if ':' in host else host}:{bound_port}{PATH}"
    webhooks = container.manage_webhooks()
    subscription, secret = await webhooks.add(
        url=url, event_types=event_types or None, description="paygate webhooks tail", actor=ACTOR
    )
    try:
        print(
            f"subscribed {subscription.id} at {url}; printing verified events as they arrive "
            "(Ctrl-C unsubscribes and stops)",
            file=errors,
            flush=True,
        )
        config = uvicorn.Config(
            receiver(secret, as_json=as_json, out=out, errors=errors),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = _Receiver(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.stop)
        await server.serve(sockets=[listening])
    finally:
        listening.close()
        await webhooks.remove(subscription.id, actor=ACTOR)
        print(f"unsubscribed {subscription.id}", file=errors, flush=True)
    return 0
