"""`paygate poll` and `paygate dispatch`: the poller and the event dispatcher, forever or for one round
(`paygate run` runs `poll_and_dispatch` beside the HTTP server).

`paygate poll` sweeps for due payments every interval and runs the dispatcher beside it (woken
at once when a sweep changed something, so the marketplace hears of a payment the moment we
know). `paygate dispatch` runs the dispatcher alone. With `--once`, one round and a summary on
stdout: usable from cron. SIGTERM or SIGINT ends the current round and stops.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from adapters.logs import get_logger
from adapters.persistence.migrate import DatabaseNotMigrated

from entrypoints.provider_report import announce_providers

from config.container import Container

# Summaries are fields, in the words of `--once`'s JSON and of the deliveries filter
# (`GET /admin/webhooks/deliveries?status=delivered|retrying|dead`).
log = get_logger("paygate.runner")


async def poll_round(container: Container, *, stop: asyncio.Event | None = None) -> dict[str, Any]:
    """One sweep, then one dispatch round; their summaries and how long the round took."""
    started = time.perf_counter()
    sweep = await container.poll_payments().sweep(until=stop)
    refunds = await container.poll_refunds().sweep()
    dispatch = await container.dispatch_events().run_once(until=stop)
    return {
        "poll": sweep.as_dict(),
        "refunds": refunds.as_dict(),
        "dispatch": dispatch.as_dict(),
        "seconds": round(time.perf_counter() - started, 3),
    }


async def dispatch_round(container: Container) -> dict[str, Any]:
    started = time.perf_counter()
    dispatch = await container.dispatch_events().run_once()
    return {"dispatch": dispatch.as_dict(), "seconds": round(time.perf_counter() - started, 3)}


async def warn_of_refused_webhooks(container: Container) -> None:
    """One warning per active subscription the webhook target rules refuse now: an upgrade or a
    changed setting must not silence a CRM quietly (its deliveries will be `blocked`)."""
    for refused in await container.manage_webhooks().refused_targets():
        log.warning(
            "webhook_target_refused",
            webhook_id=refused.subscription.id,
            reason=refused.reason,
            detail="its deliveries are blocked, not sent",
        )


async def run_poller(container: Container, *, once: bool, interval: float | None = None) -> int:
    if interval is not None and not interval > 0:
        raise ValueError("--interval must be a positive number of seconds")
    if not await _migrated(container):
        return 2
    await announce_providers(container)
    await warn_of_refused_webhooks(container)
    if once:
        print(msgspec.json.encode(await poll_round(container)).decode())
        return 0
    await poll_and_dispatch(container, _stop_on_signals(), interval=interval)
    return 0


async def poll_and_dispatch(container: Container, stop: asyncio.Event, *, interval: float | None = None) -> None:
    """The poller's sweeps and the dispatcher's rounds until `stop` (`paygate poll`, `paygate run`)."""
    settings = container.settings()
    woken = asyncio.Event()

    async def sweep() -> None:
        summary = await container.poll_payments().sweep(until=stop)
        if summary.checked:
            log.info("poll_sweep", **summary.as_dict())
        refunds = await container.poll_refunds().sweep()
        if refunds.checked:
            log.info("refund_sweep", **refunds.as_dict())
        if summary.changed or refunds.changed:
            woken.set()  # tell the marketplace now, not at the dispatcher's next tick

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(_every("poll", interval or settings.poll_interval_seconds, sweep, stop))
        tasks.create_task(
            _every("dispatch", settings.dispatch_interval_seconds, _dispatch(container, stop), stop, woken)
        )


async def run_dispatcher(container: Container, *, once: bool) -> int:
    if not await _migrated(container):
        return 2
    await announce_providers(container)
    await warn_of_refused_webhooks(container)
    if once:
        print(msgspec.json.encode(await dispatch_round(container)).decode())
        return 0
    stop = _stop_on_signals()
    await _every("dispatch", container.settings().dispatch_interval_seconds, _dispatch(container, stop), stop)
    return 0


def _dispatch(container: Container, stop: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def dispatch() -> None:
        summary = await container.dispatch_events().run_once(until=stop)
        if any(summary.as_dict().values()):
            log.info("dispatch_round", **summary.as_dict())

    return dispatch


async def _migrated(container: Container) -> bool:
    try:
        await container.startup_check()()
    except DatabaseNotMigrated as not_migrated:
        print(f"paygate: {not_migrated}", file=sys.stderr)
        return False
    return True


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _every(
    name: str,
    interval: float,
    work: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
) -> None:
    """Run `work` until `stop`, pausing `interval` seconds between rounds (less when `wake` is set)."""
    while not stop.is_set():
        try:
            await work()
        except Exception:  # noqa: BLE001 - a failed round (database restarting...) is retried next round
            log.exception("round_failed", round=name)
        await _pause(interval, stop, wake)


async def _pause(interval: float, stop: asyncio.Event, wake: asyncio.Event | None) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in (stop, wake) if event is not None]
    try:
        await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    if wake is not None:
        wake.clear()
