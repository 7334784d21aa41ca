"""The declared edge of seller routes, webhooks, the settlement report, the pay pages and provider
notifications: the document's entries for them come from their `Struct`s, and the answers those
`Struct`s render are the ones these endpoints gave before (field for field)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest

from domain.events import EventType
from domain.seller_route import Credentials, SellerRoute
from domain.webhooks import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription

from application.settlement_report import SettlementRow

from entrypoints.http import openapi
from entrypoints.http.admin_shapes import (
    DeliveryAnswer,
    DeliveryList,
    NewRouteBody,
    NewWebhookBody,
    RouteChangeBody,
    RouteList,
    RouteResource,
    WebhookAnswer,
    WebhookCreated,
    WebhookList,
)
from entrypoints.http.checkout_shapes import PayPageStatus
from entrypoints.http.endpoints import OPERATIONS
from entrypoints.http.json_body import BadRequest, decode
from entrypoints.http.operations import JSON, REF
from entrypoints.http.provider_webhooks.cloudpayments import CloudPaymentsAnswer, CloudPaymentsNotification
from entrypoints.http.provider_webhooks.stripe import StripeEvent, StripeEventsReceived
from entrypoints.http.provider_webhooks.yookassa import YooKassaNoticeHandled, YooKassaNotification
from entrypoints.http.report_routes import HEADER, row_values, settlement_line
from entrypoints.http.report_shapes import SettlementRows
from entrypoints.http.responses import JsonResponse
from entrypoints.http.seller_routes import route_resource
from entrypoints.http.webhook_routes import attempt_resource, delivery_resource, subscription_resource

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"

# (method, path) → (declared body or None, declared answer or None, the answer's media type)
DECLARED: dict[tuple[str, str], tuple[type[msgspec.Struct] | None, type[msgspec.Struct] | None, str]] = {
    ("get", "/admin/routes"): (None, RouteList, JSON),
    ("post", "/admin/routes"): (NewRouteBody, RouteResource, JSON),
    ("get", "/admin/routes/{shop_id}/{provider}"): (None, RouteResource, JSON),
    ("put", "/admin/routes/{shop_id}/{provider}"): (RouteChangeBody, RouteResource, JSON),
    ("delete", "/admin/routes/{shop_id}/{provider}"): (None, RouteResource, JSON),
    ("get", "/admin/webhooks"): (None, WebhookList, JSON),
    ("post", "/admin/webhooks"): (NewWebhookBody, WebhookCreated, JSON),
    ("delete", "/admin/webhooks/{webhook_id}"): (None, WebhookAnswer, JSON),
    ("get", "/admin/webhooks/deliveries"): (None, DeliveryList, JSON),
    ("post", "/admin/webhooks/deliveries/{delivery_id}/redeliver"): (None, DeliveryAnswer, JSON),
    ("get", "/v1/reports/settlements"): (None, SettlementRows, JSON),
    ("get", "/v1/payments/{payment_id}/qr.png"): (None, None, "image/png"),
    ("get", "/v1/payments/{payment_id}/qr.svg"): (None, None, "image/svg+xml"),
    ("get", "/pay/assets/{name}"): (None, None, "text/javascript"),
    ("get", "/pay/{payment_id}"): (None, None, "text/html"),
    ("get", "/pay/{payment_id}/status"): (None, PayPageStatus, JSON),
    ("post", "/webhooks/stripe"): (StripeEvent, StripeEventsReceived, JSON),
    ("post", "/webhooks/yookassa"): (YooKassaNotification, YooKassaNoticeHandled, JSON),
    ("post", "/webhooks/cloudpayments/{kind}"): (CloudPaymentsNotification, CloudPaymentsAnswer, JSON),
}
PUBLIC = {path for (_method, path) in DECLARED if path.startswith(("/pay", "/webhooks", "/v1/payments"))}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build_openapi()


def generated(shape: type[msgspec.Struct]) -> dict[str, Any]:
    _schemas, components = msgspec.json.schema_components([shape], ref_template=REF)
    schema: dict[str, Any] = components[shape.__name__]
    return schema


def test_none_of_these_paths_is_written_by_hand() -> None:
    assert {path for (_method, path) in DECLARED} <= {op.path for op in OPERATIONS}


@pytest.mark.parametrize(("method", "path"), list(DECLARED))
def test_the_documented_body_and_answer_are_the_declared_structs(
    document: dict[str, Any], method: str, path: str
) -> None:
    body, answer, media = DECLARED[(method, path)]
    operation = document["paths"][path][method]
    components = document["components"]["schemas"]
    ok = next(status for status in operation["responses"] if status.startswith("2"))
    answered = operation["responses"][ok]["content"][media]["schema"]
    if answer is None:
        assert answered == {"type": "string"}
    else:
        assert answered == {"$ref": REF.format(name=answer.__name__)}
        assert components[answer.__name__] == generated(answer)
    if body is None:
        assert "requestBody" not in operation
    else:
        for content in operation["requestBody"]["content"].values():
            assert content["schema"] == {"$ref": REF.format(name=body.__name__)}
        assert components[body.__name__] == generated(body)
    assert ("security" in operation and operation["security"] == []) == (path in PUBLIC)


def test_the_declarations_carry_the_limits_and_examples_of_the_old_document(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    new_route = schemas["NewRouteBody"]
    assert new_route["additionalProperties"] is False
    assert new_route["required"] == ["shop_id", "provider", "merchant_account"]
    assert new_route["properties"]["shop_id"].items() >= {"minimum": 1, "maximum": 2**63 - 1, "examples": [121038]}.items()
    assert new_route["properties"]["provider"]["pattern"] == "^[a-z][a-z0-9_]{0,31}$"
    items = schemas["NewWebhookBody"]["properties"]["event_types"]["anyOf"][0]
    assert (items["minItems"], items["items"]["enum"]) == (1, [t.value for t in EventType])
    assert schemas["CloudPaymentsAnswer"]["properties"]["code"]["enum"] == [0, 10, 12, 13, 20]
    report = document["paths"]["/v1/reports/settlements"]["get"]["responses"]["200"]["content"]
    assert set(report) == {JSON, "text/csv"}
    cloudpayments = document["paths"]["/webhooks/cloudpayments/{kind}"]["post"]["requestBody"]["content"]
    assert set(cloudpayments) == {FORM, JSON}


def rendered(value: Any) -> Any:
    return json.loads(bytes(JsonResponse(value).body))


def test_a_route_renders_as_before_without_its_credentials() -> None:
    route = SellerRoute(
        shop_id=121038, provider="yookassa", merchant_account="100500",
        credentials=Credentials({"shop_key": "k", "secret_key": "s3cr3t", "unset": ""}),
        is_active=True, created_at=NOW, updated_at=NOW, is_default=True,
    )
    assert rendered(RouteList([route_resource(route)])) == {"data": [{
        "shop_id": 121038, "provider": "yookassa", "merchant_account": "100500",
        "credential_names": ["secret_key", "shop_key"], "is_active": True, "is_default": True,
        "created_at": "2026-03-02T09:30:00+00:00", "updated_at": "2026-03-02T09:30:00+00:00",
    }]}


def test_webhook_answers_render_as_before() -> None:
    subscription = WebhookSubscription(
        id="wh_1", url="https://crm.example/paygate", secret="whsec_x", is_active=True, created_at=NOW,
        updated_at=NOW, event_types=frozenset({EventType.PAYMENT_SUCCEEDED, EventType.PAYMENT_CREATED}),
    )
    webhook = {
        "id": "wh_1", "url": "https://crm.example/paygate", "event_types": ["payment.created", "payment.succeeded"],
        "description": "", "is_active": True, "created_at": NOW.isoformat(), "updated_at": NOW.isoformat(),
    }
    resource = subscription_resource(subscription)
    assert rendered(WebhookCreated(webhook=resource, secret="whsec_x")) == {
        "success": True, "webhook": webhook, "secret": "whsec_x",
    }
    assert rendered(WebhookList(webhooks=[resource])) == {"success": True, "webhooks": [webhook]}
    assert rendered(WebhookAnswer(webhook=resource)) == {"success": True, "webhook": webhook}


def test_a_delivery_shows_its_attempt_log_only_where_the_attempts_were_read() -> None:
    delivery = WebhookDelivery(
        id="dlv_1", subscription_id="wh_1", event_id="evt_1", event_type="payment.created", payment_id="pay_1",
        sequence=1, next_attempt_at=NOW, created_at=NOW, updated_at=NOW, status=DeliveryStatus.DEAD, attempts=3,
        last_attempt_at=NOW, last_status_code=500, last_error="HTTP 500",
    )
    attempt = DeliveryAttempt(delivery_id="dlv_1", attempted_at=NOW, succeeded=False, duration_ms=12, status_code=500)
    alone = rendered(DeliveryAnswer(delivery=delivery_resource(delivery)))["delivery"]
    assert alone == {
        "id": "dlv_1", "subscription_id": "wh_1", "event_id": "evt_1", "event_type": "payment.created",
        "payment_id": "pay_1", "sequence": 1, "status": "dead", "attempts": 3,
        "next_attempt_at": None,  # only a pending delivery has a next attempt
        "last_attempt_at": NOW.isoformat(), "last_status_code": 500, "last_error": "HTTP 500",
        "delivered_at": None, "created_at": NOW.isoformat(),
    }
    listed = rendered(DeliveryList(deliveries=[delivery_resource(delivery, [attempt_resource(attempt)])]))
    assert listed["deliveries"][0] == alone | {"attempt_log": [{
        "attempted_at": NOW.isoformat(), "succeeded": False, "status_code": 500, "error": None, "duration_ms": 12,
    }]}


def test_the_settlement_rows_and_their_csv_columns_are_one_declaration() -> None:
    row = SettlementRow(
        shop_id=7, day=date(2026, 3, 1), provider="kaspi", currency="KZT", payments_count=2, paid=1000,
        refunds_count=1, refunded=1500,
    )
    assert HEADER == (
        "shop_id", "date", "provider", "currency", "payments_count", "paid", "refunds_count", "refunded", "net",
    )
    assert row_values(row) == (7, "2026-03-01", "kaspi", "KZT", 2, 1000, 1, 1500, -500)
    assert rendered(SettlementRows([settlement_line(row)])) == {"data": [dict(zip(HEADER, row_values(row), strict=True))]}


@pytest.mark.parametrize(
    ("shape", "raw", "code", "field"),
    [
        (NewWebhookBody, b'{"url": "https://crm.example/x", "event_types": [5]}', "invalid_type", "event_types"),
        (NewWebhookBody, b'{"url": "https://crm.example/x", "event_types": []}', "invalid_value", "event_types"),
        (NewWebhookBody, b'{"url": "https://crm.example/x", "description": null, "secret": "s"}', "unknown_field", "secret"),
        (NewWebhookBody, b'{"url": "https://crm.example/' + b"x" * 2048 + b'"}', "too_long", "url"),
        (NewRouteBody, b'{"shop_id": 0, "provider": "kaspi", "merchant_account": "x"}', "invalid_value", "shop_id"),
        (NewRouteBody, b'{"shop_id": "7", "provider": "kaspi", "merchant_account": "x"}', "invalid_type", "shop_id"),
        (NewRouteBody, b'{"shop_id": 7, "merchant_account": "x"}', "missing_field", "provider"),
        (NewRouteBody, b'{"shop_id": 7, "provider": null, "merchant_account": "x"}', "missing_field", "provider"),
        (NewRouteBody, b'{"shop_id": 7, "provider": "k", "merchant_account": "x", "credentials": {"a": 1}}',
         "invalid_type", "credentials.a"),
        (RouteChangeBody, b'{"credentials": {"api_secret": "' + b"s" * 501 + b'"}}', "too_long", "credentials.api_secret"),
        (RouteChangeBody, b'{"is_default": "yes"}', "invalid_type", "is_default"),
        (RouteChangeBody, b'{"merchant_account": "' + b"1" * 129 + b'"}', "too_long", "merchant_account"),
    ],
)
def test_operator_bodies_are_refused_with_the_codes_and_fields_of_the_old_parser(
    shape: type[msgspec.Struct], raw: bytes, code: str, field: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        decode(raw, shape)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_absent_and_null_are_the_same_in_a_route_change() -> None:
    assert decode(b'{"is_active": null, "credentials": null}', RouteChangeBody)[0] == RouteChangeBody()
