"""Prometheus metrics of one gateway process, and the gauges read from the database at scrape time.

Counters and histograms are counted where things happen (the HTTP middleware, the provider
decorator). Quantities that live in the database (pending payments, poller lag, the outbox backlog,
failing webhook deliveries) are read when Prometheus scrapes, by *samplers*, so that every replica
reports the same truth whichever process (`paygate poll`, `paygate dispatch`) did the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence

import attrs
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapters.logs import get_logger

log = get_logger("paygate.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Requests answer in milliseconds unless a provider is called (seconds, up to its timeout).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)
WRITE_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
PROVIDER_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# The gauges samplers may report: name -> (help, label names). A reading of any other name is a bug.
SCRAPE_GAUGES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "paygate_payments_pending": ("Payments waiting for their provider's final answer.", ("provider",)),
    "paygate_payments_outcome_unknown": (
        (
            "Pending payments without a provider id: the create's answer was lost (timeout, 5xx, a crash "
            "mid-call). Status sync cannot ask about them; an operator finds each in the provider's cabinet "
            "and runs `paygate payments attach`."
        ),
        ("provider",),
    ),
    "paygate_payments_late_success": (
        (
            "Payments the provider took money for after Paygate had closed them (failed, cancelled, "
            "expired), not refunded since: an operator fulfils or refunds each (error code `late_success`)."
        ),
        (),
    ),
    "paygate_refunds_outcome_unknown": (
        "Refunds whose provider answer was lost; their amount stays reserved.",
        (),
    ),
    "paygate_poller_lag_seconds": (
        "How long the most overdue status check has been waiting past its due time (0: none overdue).",
        (),
    ),
    "paygate_outbox_backlog": ("Events written to the outbox and not yet delivered everywhere.", ()),
    "paygate_outbox_oldest_event_age_seconds": ("Age of the oldest undelivered outbox event.", ()),
    "paygate_webhook_deliveries_retrying": (
        "Webhook deliveries whose last attempt failed and that will be tried again.",
        (),
    ),
    "paygate_webhook_deliveries_dead_lettered": ("Webhook deliveries that gave up after every retry.", ()),
}


@attrs.frozen
class Reading:
    """One value of a scrape-time gauge."""

    gauge: str = attrs.field(validator=attrs.validators.in_(SCRAPE_GAUGES))
    value: float
    labels: Mapping[str, str] = attrs.field(factory=dict)


# Reads some gauges from wherever they live; called at every scrape, so keep it to a few cheap queries.
Sampler = Callable[[], Awaitable[Iterable[Reading]]]


class _ScrapeTimeGauges(Collector):
    """Exports exactly the readings of the current scrape: a gauge nobody could read is left out."""

    def __init__(self) -> None:
        self.readings: Sequence[Reading] = ()

    def describe(self) -> Iterable[Metric]:
        return ()  # the families depend on what was read; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for reading in self.readings:
            help_text, label_names = SCRAPE_GAUGES[reading.gauge]
            family = families.get(reading.gauge)
            if family is None:
                family = families[reading.gauge] = GaugeMetricFamily(reading.gauge, help_text, labels=label_names)
            family.add_metric([reading.labels.get(name, "") for name in label_names], reading.value)
        yield from families.values()


class PaygateMetrics:
    """The metrics of one process, on a registry of its own (two apps in one process never clash)."""

    def __init__(self, *, sampler_timeout: float = 2.0) -> None:
        if sampler_timeout <= 0:
            raise ValueError("sampler_timeout must be positive")
        self.registry = CollectorRegistry()
        self._sampler_timeout = sampler_timeout
        self._requests = Counter(
            "paygate_http_requests", "HTTP requests answered, by route template and status.",
            ("method", "route", "status"), registry=self.registry,
        )
        self._request_seconds = Histogram(
            "paygate_http_request_duration_seconds", "Time to answer an HTTP request.",
            ("method", "route", "status"), buckets=REQUEST_BUCKETS, registry=self.registry,
        )
        self._provider_calls = Counter(
            "paygate_provider_calls", "Calls to payment providers, by outcome "
            "(ok, declined, unavailable, timeout, cancelled, error).",
            ("provider", "operation", "outcome"), registry=self.registry,
        )
        self._provider_seconds = Histogram(
            "paygate_provider_call_duration_seconds", "Time a payment provider took to answer (or not).",
            ("provider", "operation"), buckets=PROVIDER_BUCKETS, registry=self.registry,
        )
        self._write_batch_rows = Histogram(
            "paygate_db_write_batch_rows", "Rows per statement of a create's writes, shared by concurrent "
            "creates (open: the payment before the provider call; answer: what the provider said).",
            ("write",), buckets=WRITE_BATCH_BUCKETS, registry=self.registry,
        )
        self._sampler_failures = Counter(
            "paygate_metrics_sampler_failures", "Scrape-time gauge samplers that failed or timed out.",
            ("sampler",), registry=self.registry,
        )
        self._scrape = _ScrapeTimeGauges()
        self.registry.register(self._scrape)
        # The labelled series met so far, found by one dict lookup: `labels()` converts, validates
        # and locks on every call, twice per request and twice per provider call. Bounded by the
        # route templates, methods, statuses, providers, operations and outcomes there are.
        self._request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._provider_series: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    # --- Counted where it happens ------------------------------------------------------------

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        key = (method if method in KNOWN_METHODS else "OTHER", route, status)
        series = self._request_series.get(key)
        if series is None:
            labels = (key[0], route, str(status))
            series = self._request_series[key] = (self._requests.labels(*labels), self._request_seconds.labels(*labels))
        series[0].inc()
        series[1].observe(seconds)

    def observe_provider_call(self, *, provider: str, operation: str, outcome: str, seconds: float) -> None:
        key = (provider, operation, outcome)
        series = self._provider_series.get(key)
        if series is None:
            series = self._provider_series[key] = (
                self._provider_calls.labels(*key), self._provider_seconds.labels(provider, operation)
            )
        series[0].inc()
        series[1].observe(seconds)

    def observe_write_batch(self, write: str, rows: int) -> None:
        self._write_batch_rows.labels(write).observe(rows)

    # --- The scrape ---------------------------------------------------------------------------

    async def render(self, samplers: Mapping[str, Sampler]) -> bytes:
        """The exposition text, with every sampler read now (concurrently, each within the timeout)."""
        results = await asyncio.gather(*(self._sample(name, sampler) for name, sampler in samplers.items()))
        # No await between storing the readings and rendering them: a concurrent scrape cannot mix in.
        self._scrape.readings = [reading for readings in results for reading in readings]
        return generate_latest(self.registry)

    async def _sample(self, name: str, sampler: Sampler) -> list[Reading]:
        try:
            async with asyncio.timeout(self._sampler_timeout):
                return list(await sampler())
        except Exception as error:  # noqa: BLE001 - a broken sampler must not take the other metrics down
            self._sampler_failures.labels(name).inc()
            log.warning("metrics_sampler_failed", sampler=name, error=type(error).__name__, reason=str(error))
            return []
