"""The metrics registry: counted series, and gauges sampled at scrape time that never take the scrape down."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics import PaygateMetrics, Reading


def samples(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
    }


@pytest.mark.anyio
async def test_requests_and_provider_calls_are_counted_and_timed_by_their_labels() -> None:
    metrics = PaygateMetrics()
    for status in (200, 200, 404):
        metrics.observe_request(method="GET", route="/payments/kaspi/status/{external_id}", status=status, seconds=0.02)
    metrics.observe_request(method="BREW", route="unmatched", status=405, seconds=0.001)
    metrics.observe_provider_call(provider="kaspi", operation="create_payment", outcome="timeout", seconds=15.0)
    metrics.observe_write_batch("open", 20)
    metrics.observe_write_batch("open", 1)

    seen = samples(await metrics.render({}))

    route = ("route", "/payments/kaspi/status/{external_id}")
    assert seen[("paygate_http_requests_total", (("method", "GET"), route, ("status", "200")))] == 2
    assert seen[("paygate_http_requests_total", (("method", "GET"), route, ("status", "404")))] == 1
    assert seen[("paygate_http_requests_total", (("method", "OTHER"), ("route", "unmatched"), ("status", "405")))] == 1
    assert seen[("paygate_http_request_duration_seconds_count", (("method", "GET"), route, ("status", "200")))] == 2
    kaspi_create = (("operation", "create_payment"), ("provider", "kaspi"))
    assert seen[("paygate_provider_calls_total", (kaspi_create[0], ("outcome", "timeout"), kaspi_create[1]))] == 1
    assert seen[("paygate_provider_call_duration_seconds_sum", kaspi_create)] == 15.0
    assert seen[("paygate_db_write_batch_rows_sum", (("write", "open"),))] == 21
    assert seen[("paygate_db_write_batch_rows_bucket", (("le", "16.0"), ("write", "open")))] == 1


@pytest.mark.anyio
async def test_scrape_time_gauges_export_exactly_what_the_samplers_read_now() -> None:
    metrics = PaygateMetrics()
    backlog = [7.0]

    async def database() -> Iterable[Reading]:
        return [
            Reading("paygate_payments_pending", 3, {"provider": "kaspi"}),
            Reading("paygate_payments_pending", 0, {"provider": "stripe"}),
            Reading("paygate_outbox_backlog", backlog[0]),
        ]

    first = samples(await metrics.render({"database": database}))
    backlog[0] = 2.0
    second = samples(await metrics.render({"database": database}))

    assert first[("paygate_payments_pending", (("provider", "kaspi"),))] == 3
    assert first[("paygate_payments_pending", (("provider", "stripe"),))] == 0
    assert (first[("paygate_outbox_backlog", ())], second[("paygate_outbox_backlog", ())]) == (7.0, 2.0)


@pytest.mark.anyio
async def test_a_failing_or_hanging_sampler_is_counted_and_leaves_out_only_its_own_gauges() -> None:
    metrics = PaygateMetrics(sampler_timeout=0.2)
    never = asyncio.Event()

    async def healthy() -> Iterable[Reading]:
        return [Reading("paygate_poller_lag_seconds", 1.5)]

    async def broken() -> Iterable[Reading]:
        raise ConnectionError("database down")

    async def hanging() -> Iterable[Reading]:
        await never.wait()
        return []

    seen = samples(await metrics.render({"poller": healthy, "outbox": broken, "webhooks": hanging}))

    assert seen[("paygate_poller_lag_seconds", ())] == 1.5
    assert seen[("paygate_metrics_sampler_failures_total", (("sampler", "outbox"),))] == 1
    assert seen[("paygate_metrics_sampler_failures_total", (("sampler", "webhooks"),))] == 1
    assert not any(name == "paygate_outbox_backlog" for name, _labels in seen)


def test_a_reading_of_an_undeclared_gauge_is_refused() -> None:
    with pytest.raises(ValueError):
        Reading("paygate_made_up_gauge", 1)


def test_two_registries_in_one_process_do_not_clash() -> None:
    PaygateMetrics()
    PaygateMetrics()
