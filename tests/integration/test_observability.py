"""What an operator sees of the real app on PostgreSQL: request ids, JSON access and provider lines,
Prometheus metrics by route template, and health and readiness with every dependency."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import Settings

from tests.support.gateways import (
    IssuedKey,
    RunningGateway,
    demo_sellers,
    every_provider_on,
    gateway_settings,
    prepare,
)
from tests.support.logs import JsonLogs

pytestmark = pytest.mark.postgres

SHOP = 121038  # Eileen flowers
PHONE = "+7 701 521 15 45"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def settings(postgres_url: str) -> Settings:
    settings = every_provider_on(gateway_settings(postgres_url))
    prepare(settings)
    return settings


@pytest.fixture
def http(gateway: RunningGateway, key: IssuedKey) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, headers=key.header, timeout=10) as client:
        yield client


def metric_samples(gateway: RunningGateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(f"{gateway.base_url}/metrics", timeout=10)  # no key: scraped like /health
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_the_callers_request_id_is_returned_and_joins_every_log_line_of_the_request(
    http: httpx.Client, json_logs: JsonLogs, key: IssuedKey
) -> None:
    device_tokens = [row["device_token"] for row in demo_sellers()]
    json_logs.redactor.add(*device_tokens)
    created = http.post(
        "/payments/kaspi/create",
        json={"shop_id": SHOP, "amount": 1500, "phone": PHONE, "message": "Order 7"},
        headers={"X-Request-ID": "crm-7f3a:order-7"},
    )

    assert created.status_code == 200, created.text
    assert created.headers["X-Request-ID"] == "crm-7f3a:order-7"
    [call] = json_logs.events("provider_call", request_id="crm-7f3a:order-7")
    assert call["payment_id"].startswith("pay_")
    assert (call["shop_id"], call["provider"], call["operation"], call["outcome"]) == (SHOP, "kaspi", "create_payment", "ok")
    assert call["duration_ms"] >= 0
    assert call["api_key"] == key.name
    [access] = json_logs.events("request", request_id="crm-7f3a:order-7", path="/payments/kaspi/create")
    assert (access["method"], access["status"], access["api_key"], access["route"]) == (
        "POST", 200, key.name, "/payments/kaspi/create",
    )
    assert access["duration_ms"] > 0
    assert all(token not in json_logs.text for token in device_tokens)
    assert key.plaintext not in json_logs.text


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 129, "quote\"inside", "ünïcode"])
def test_a_missing_or_insane_request_id_is_replaced_by_a_fresh_one(
    gateway: RunningGateway, json_logs: JsonLogs, sent: str | None
) -> None:
    headers: dict[bytes, bytes] = {} if sent is None else {b"X-Request-ID": sent.encode("utf-8")}
    response = httpx.get(f"{gateway.base_url}/health", headers=headers, timeout=10)

    request_id = response.headers["X-Request-ID"]
    assert GENERATED_ID.fullmatch(request_id)
    assert json_logs.events("request", request_id=request_id, path="/health")


def test_the_access_log_keeps_secrets_of_the_query_string_out(
    gateway: RunningGateway, json_logs: JsonLogs, key: IssuedKey
) -> None:
    response = httpx.get(
        f"{gateway.base_url}/admin/logs", params={"shop_id": SHOP, "limit": 1, "access_token": "leaky-s3cret"},
        headers=key.header, timeout=10,
    )

    request_id = response.headers["X-Request-ID"]
    [access] = json_logs.events("request", request_id=request_id)
    assert access["path"] == "/admin/logs"
    assert "access_token=***" in access["query"]
    assert "leaky-s3cret" not in json_logs.text


def test_metrics_count_requests_by_route_template_and_status_and_provider_calls_by_outcome(
    gateway: RunningGateway, http: httpx.Client
) -> None:
    created = http.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 700, "phone": PHONE})
    external_id = created.json()["external_id"]
    before = metric_samples(gateway)
    for _ in range(3):
        assert http.get(f"/payments/kaspi/status/{external_id}").status_code == 200
    assert http.get("/payments/kaspi/status/99999999999").status_code == 404
    assert http.get("/no/such/path/12345").status_code == 404
    after = metric_samples(gateway)

    def requests(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], route: str, status: str) -> float:
        labels = frozenset({("method", "GET"), ("route", route), ("status", status)})
        return samples.get(("paygate_http_requests_total", labels), 0.0)

    status_route = "/payments/kaspi/status/{external_id}"
    assert requests(after, status_route, "200") - requests(before, status_route, "200") == 3
    assert requests(after, status_route, "404") - requests(before, status_route, "404") == 1
    assert requests(after, "unmatched", "404") - requests(before, "unmatched", "404") == 1
    assert not any(external_id in dict(labels).get("route", "") for _name, labels in after)
    histogram = ("paygate_http_request_duration_seconds_count", frozenset({("method", "GET"), ("route", status_route), ("status", "200")}))
    assert after[histogram] >= 3
    fetched = ("paygate_provider_calls_total", frozenset({("provider", "kaspi"), ("operation", "fetch_payment"), ("outcome", "ok")}))
    assert after[fetched] - before.get(fetched, 0.0) == 3
    assert ("paygate_provider_call_duration_seconds_count", frozenset({("provider", "kaspi"), ("operation", "create_payment")})) in after


def test_metrics_read_pending_payments_and_the_other_database_gauges_at_scrape_time(
    gateway: RunningGateway, http: httpx.Client
) -> None:
    pending = ("paygate_payments_pending", frozenset({("provider", "kaspi")}))
    before = metric_samples(gateway)[pending]
    assert http.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 900, "phone": PHONE}).status_code == 200
    after = metric_samples(gateway)

    assert after[pending] == before + 1  # tests on this database run one at a time
    for gauge in (
        "paygate_payments_outcome_unknown", "paygate_refunds_outcome_unknown", "paygate_poller_lag_seconds",
        "paygate_outbox_backlog", "paygate_outbox_oldest_event_age_seconds", "paygate_webhook_deliveries_retrying",
        "paygate_webhook_deliveries_dead_lettered", "paygate_payments_late_success",
    ):
        assert any(name == gauge for name, _labels in after), gauge
    assert not any(name == "paygate_metrics_sampler_failures_total" for name, _labels in after)


def test_health_and_readiness_report_the_database_the_migrations_and_each_provider(
    gateway: RunningGateway, http: httpx.Client
) -> None:
    assert http.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 100, "phone": PHONE}).status_code == 200

    health = httpx.get(f"{gateway.base_url}/health", timeout=10)
    ready = httpx.get(f"{gateway.base_url}/ready", timeout=10)

    assert (health.status_code, ready.status_code) == (200, 200)
    for body in (health.json(), ready.json()):
        assert body["status"] == "healthy"
        services = body["services"]
        assert services["database"]["status"] == "up"
        assert services["migrations"]["status"] == "up" and services["migrations"]["revisions"]
        assert services["provider:kaspi"]["status"] == "up"
        assert services["provider:kaspi"]["last_outcome"] == "ok"
        assert body["timestamp"].endswith("+00:00")
