"""Every provider call, whatever the provider: one structured log line, metrics, and the last outcome.

`InstrumentedProvider` wraps any `PaymentProvider`; the composition root wraps each configured
provider, so a new adapter is observed without doing anything.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from application.errors import ProviderDeclined, ProviderUnavailable
from application.ports import PaymentProvider, ProviderProfile

from adapters.logs import get_logger
from adapters.metrics import PaygateMetrics

log = get_logger("paygate.providers")

# Attributes of a call's arguments that say which payment it is about (requests of the port).
_CONTEXT_FIELDS = ("payment_id", "refund_id", "external_id")


@attrs.frozen
class LastCall:
    outcome: str
    at: datetime
    consecutive_failures: int


class ProviderCallBook:
    """The last outcome of each provider's calls: what `/health` reports about providers.

    No provider is called to check its health: a Kaspi create is a bill on a customer's phone.
    """

    def __init__(self) -> None:
        # Per provider: outcome, POSIX time, consecutive failures. Every provider call records; only
        # `/health` reads, so the `LastCall` is built there rather than on each call.
        self._last: dict[str, tuple[str, float, int]] = {}

    def record(self, provider: str, outcome: str) -> None:
        answered = outcome in ("ok", "declined")
        previous = self._last.get(provider)
        failures = 0 if answered else (previous[2] if previous else 0) + 1
        self._last[provider] = (outcome, time.time(), failures)

    def last(self, provider: str) -> LastCall | None:
        recorded = self._last.get(provider)
        if recorded is None:
            return None
        outcome, at, failures = recorded
        return LastCall(outcome, datetime.fromtimestamp(at, UTC), failures)


class InstrumentedProvider:
    """A `PaymentProvider` that observes every coroutine method of the provider it wraps."""

    def __init__(self, provider: PaymentProvider, *, metrics: PaygateMetrics, book: ProviderCallBook) -> None:
        self._provider = provider
        self._metrics = metrics
        self._book = book
        self._name = _provider_name(provider)

    def __repr__(self) -> str:
        return f"InstrumentedProvider({self._provider!r})"

    @property
    def profile(self) -> ProviderProfile:
        # Read on every create and status change: found directly, not through `__getattr__`.
        return self._provider.profile

    @profile.setter
    def profile(self, profile: ProviderProfile) -> None:
        self._provider.profile = profile

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._provider, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(attribute):
            return attribute  # the profile, the name...
        observed = self._observed(name, attribute)
        # Kept on the wrapper, found directly from now on: not inspected and rebuilt on every call.
        setattr(self, name, observed)
        return observed

    def _observed(self, operation: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def observed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome, reason = "cancelled", None
            try:
                result = await call(*args, **kwargs)
            except ProviderDeclined as declined:
                outcome, reason = "declined", str(declined)
                raise
            except ProviderUnavailable as unknown:
                outcome, reason = ("timeout" if unknown.timed_out else "unavailable"), unknown.reason
                raise
            except Exception as error:
                # Adapters must translate everything into the two port errors; this is a bug.
                outcome, reason = "error", type(error).__name__
                raise
            else:
                outcome = "ok"
                return result
            finally:
                self._observe(operation, outcome, reason, time.perf_counter() - started, (*args, *kwargs.values()))

        return observed

    def _observe(self, operation: str, outcome: str, reason: str | None, seconds: float, args: tuple[Any, ...]) -> None:
        provider = self._name
        self._metrics.observe_provider_call(provider=provider, operation=operation, outcome=outcome, seconds=seconds)
        self._book.record(provider, outcome)
        fields = {**_call_context(args), "provider": provider, "operation": operation, "outcome": outcome}
        fields["duration_ms"] = round(seconds * 1000, 1)
        if reason is not None:
            fields["reason"] = reason  # adapters keep secrets out of their errors; the log filter checks again
        if outcome in ("ok", "declined"):
            log.info("provider_call", **fields)
        else:
            log.warning("provider_call", **fields)


def _provider_name(provider: PaymentProvider) -> str:
    profile = getattr(provider, "profile", None)
    return str(profile.name if profile is not None else getattr(provider, "name", type(provider).__name__))


def _call_context(args: tuple[Any, ...]) -> dict[str, Any]:
    """Which payment and shop a call is about, from the port's request objects (never credentials)."""
    context: dict[str, Any] = {}
    for arg in args:
        if isinstance(arg, str):
            context.setdefault("external_id", arg)  # fetch_payment(route, external_id)
            continue
        route = getattr(arg, "route", arg)
        shop_id = getattr(route, "shop_id", None)
        if isinstance(shop_id, int):
            context.setdefault("shop_id", shop_id)
        for field in _CONTEXT_FIELDS:
            value = getattr(arg, field, None)
            if isinstance(value, str) and value:
                context.setdefault(field, value)
    return context


def instrument(
    providers: Mapping[str, PaymentProvider], *, metrics: PaygateMetrics, book: ProviderCallBook
) -> dict[str, PaymentProvider]:
    """Each provider wrapped in an `InstrumentedProvider` (for the composition root)."""
    return {
        name: InstrumentedProvider(provider, metrics=metrics, book=book)
        for name, provider in providers.items()
    }
