"""The /v1 payments API and the routes admin through the real app on PostgreSQL.

Every answer is checked against the OpenAPI document's schema for it: what the document promises
is what a client gets.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest

from entrypoints.http.openapi import build_openapi

from config.settings import Settings

from tests.support.gateways import IssuedKey, RunningGateway, gateway_settings, issue_key, prepare

pytestmark = pytest.mark.postgres

SHOP, OTHER_SHOP = 121038, 576631
SANDBOX_SECRET = "sk_sandbox_integration_9f2e7a"
DOCUMENT = build_openapi()


@pytest.fixture(scope="module")
def settings(postgres_url: str) -> Settings:
    settings = gateway_settings(postgres_url, sandbox_enabled=True)
    prepare(settings)
    return settings


@pytest.fixture(scope="module")
def api(gateway: RunningGateway, key: IssuedKey) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, headers=key.header, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def sandbox_shop(api: httpx.Client) -> int:
    """A shop of its own per run (the PostgreSQL database is shared by the session), with a sandbox route."""
    shop = 900_000_000 + uuid.uuid4().int % 100_000_000
    answer = conforms(
        api.post("/admin/routes", json={
            "shop_id": shop, "provider": "sandbox", "merchant_account": f"sbx-{shop}",
            "credentials": {"secret_key": SANDBOX_SECRET}, "is_default": True,
        }),
        "/admin/routes", "post", 201,
    )
    assert answer["credential_names"] == ["secret_key"]
    return shop


def conforms(response: httpx.Response, path: str, method: str, status: int) -> Any:
    """The answer has the expected status and matches the document's schema for it."""
    assert response.status_code == status, response.text
    documented = DOCUMENT["paths"][path][method]["responses"][str(status)]
    schema = documented["content"]["application/json"]["schema"]
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": DOCUMENT["components"]})
    body = response.json()
    errors = [error.message for error in validator.iter_errors(body)]
    assert not errors, f"{method.upper()} {path} {status} does not match the document: {errors}"
    return body


def card(api: httpx.Client, shop: int, *, headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
    body = {"shop_id": shop, "amount": 150_000, "currency": "KZT", "method": "card"} | fields
    return api.post("/v1/payments", json=body, headers=headers)


def sandbox_calls(gateway: RunningGateway, operation: str) -> int:
    return sum(1 for call in gateway.container.simulators.sandbox_gateway().calls if call.operation == operation)


# --- the resource shapes the document promises ------------------------------------------------------


def test_a_two_step_payment_from_authorisation_to_refund_matches_the_document(
    api: httpx.Client, sandbox_shop: int
) -> None:
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    created = conforms(card(api, sandbox_shop, capture=False, customer_id=customer, order_id="A-1"), "/v1/payments", "post", 201)
    assert (created["status"], created["capture"], created["provider"]) == ("authorized", False, "sandbox")
    assert created["client_secret"] and created["refunds"] == {"refunded": 0, "pending": 0, "refundable": 0}

    payment_id = created["id"]
    captured = conforms(api.post(f"/v1/payments/{payment_id}/capture"), "/v1/payments/{payment_id}/capture", "post", 200)
    refund = conforms(
        api.post(f"/v1/payments/{payment_id}/refunds", json={"amount": 50_000}), "/v1/payments/{payment_id}/refunds", "post", 201
    )
    read = conforms(api.get(f"/v1/payments/{payment_id}"), "/v1/payments/{payment_id}", "get", 200)
    history = conforms(api.get("/v1/payments", params={"customer_id": customer}), "/v1/payments", "get", 200)

    assert captured["status"] == "succeeded"
    assert (refund["amount"], refund["status"], refund["payment"]["status"]) == (50_000, "succeeded", "partially_refunded")
    assert read["refunds"] | {"items": None} == {"refunded": 50_000, "pending": 0, "refundable": 100_000, "items": None}
    assert [r["id"] for r in read["refunds"]["items"]] == [refund["id"]]
    assert [p["id"] for p in history["data"]] == [payment_id] and history["next_cursor"] is None


def test_a_cancelled_payment_and_the_refusals_match_the_document(api: httpx.Client, sandbox_shop: int) -> None:
    payment_id = conforms(card(api, sandbox_shop, capture=False), "/v1/payments", "post", 201)["id"]

    cancelled = conforms(api.post(f"/v1/payments/{payment_id}/cancel", json={}), "/v1/payments/{payment_id}/cancel", "post", 200)
    again = conforms(api.post(f"/v1/payments/{payment_id}/capture"), "/v1/payments/{payment_id}/capture", "post", 409)
    declined = conforms(
        card(api, sandbox_shop, metadata={"sandbox_outcome": "expired_card"}), "/v1/payments", "post", 402
    )

    assert cancelled["status"] == "cancelled"
    assert again["error"]["code"] == "payment_not_capturable"
    failed = conforms(api.get(f"/v1/payments/{declined['error']['reference']}"), "/v1/payments/{payment_id}", "get", 200)
    assert (failed["status"], failed["error"]["code"]) == ("failed", "expired_card")


def test_a_kaspi_payment_through_v1_matches_the_document_and_cannot_be_captured(api: httpx.Client) -> None:
    order = f"order-{uuid.uuid4().hex[:8]}"
    created = conforms(
        api.post("/v1/payments", json={
            "shop_id": SHOP, "provider": "kaspi", "amount": 500_000, "currency": "KZT",
            "phone": "+7 701 521 15 45", "order_id": order,
        }),
        "/v1/payments", "post", 201,
    )
    refused = conforms(api.post(f"/v1/payments/{created['id']}/capture"), "/v1/payments/{payment_id}/capture", "post", 422)
    listed = conforms(api.get("/v1/payments", params={"order_id": order}), "/v1/payments", "get", 200)

    assert (created["method"], created["provider_status"], created["amount"]) == ("remote", "Wait", 500_000)
    assert (refused["error"]["code"], refused["error"]["field"]) == ("capability_not_supported", None)
    assert [p["id"] for p in listed["data"]] == [created["id"]]


def test_routes_never_give_back_a_credential(api: httpx.Client, sandbox_shop: int) -> None:
    one = conforms(api.get(f"/admin/routes/{sandbox_shop}/sandbox"), "/admin/routes/{shop_id}/{provider}", "get", 200)
    changed = conforms(
        api.put(f"/admin/routes/{sandbox_shop}/sandbox", json={"credentials": {"secret_key": SANDBOX_SECRET + "2"}}),
        "/admin/routes/{shop_id}/{provider}", "put", 200,
    )
    listing = api.get("/admin/routes", params={"shop_id": sandbox_shop})
    conforms(listing, "/admin/routes", "get", 200)
    duplicate = conforms(
        api.post("/admin/routes", json={"shop_id": sandbox_shop, "provider": "sandbox", "merchant_account": "x"}),
        "/admin/routes", "post", 409,
    )

    assert one["credential_names"] == changed["credential_names"] == ["secret_key"]
    assert duplicate["error"]["code"] == "route_exists"
    for response_text in (str(one), str(changed), listing.text):
        assert SANDBOX_SECRET not in response_text


# --- idempotency and concurrency ---------------------------------------------------------------------


def test_a_retried_create_with_the_same_key_is_one_payment_at_the_provider(
    api: httpx.Client, gateway: RunningGateway, sandbox_shop: int
) -> None:
    key = {"Idempotency-Key": f"order-{uuid.uuid4().hex}"}
    before = sandbox_calls(gateway, "create")

    first = card(api, sandbox_shop, headers=key)
    second = card(api, sandbox_shop, headers=key)
    other_body = card(api, sandbox_shop, amount=1, headers=key)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert (other_body.status_code, other_body.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert sandbox_calls(gateway, "create") == before + 1


def test_concurrent_captures_capture_once(api: httpx.Client, gateway: RunningGateway, key: IssuedKey, sandbox_shop: int) -> None:
    payment_id = card(api, sandbox_shop, capture=False).json()["id"]
    start = threading.Barrier(4)
    answers: list[httpx.Response] = []

    def capture() -> None:
        with httpx.Client(base_url=gateway.base_url, headers=key.header, timeout=30) as client:
            start.wait(timeout=10)
            answers.append(client.post(f"/v1/payments/{payment_id}/capture"))

    workers = [threading.Thread(target=capture) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert len(answers) == 4
    # Every caller either captured it or was told it is captured already; the payment moved once.
    assert {a.status_code for a in answers} <= {200, 409}
    assert any(a.status_code == 200 for a in answers)
    assert api.get(f"/v1/payments/{payment_id}").json()["status"] == "succeeded"
    logs = api.get("/admin/logs", params={"shop_id": sandbox_shop, "limit": 1000}).json()
    changes = [e for e in logs if e["payment_id"] == payment_id and e["operation_type"] == "status_change"]
    assert len(changes) == 1


# --- reach of a restricted key -------------------------------------------------------------------------


def test_a_key_restricted_to_one_shop_sees_nothing_of_another(
    api: httpx.Client, settings: Settings, gateway: RunningGateway, sandbox_shop: int
) -> None:
    order = f"order-{uuid.uuid4().hex[:8]}"
    theirs = card(api, sandbox_shop, order_id=order).json()["id"]
    restricted = issue_key(settings, ["payments", "admin"], shops=[SHOP])

    with httpx.Client(base_url=gateway.base_url, headers=restricted.header, timeout=30) as client:
        read = client.get(f"/v1/payments/{theirs}")
        refund = client.post(f"/v1/payments/{theirs}/refunds", json={})
        capture = client.post(f"/v1/payments/{theirs}/cancel")
        listed = client.get("/v1/payments", params={"order_id": order})
        create = client.post("/v1/payments", json={"shop_id": sandbox_shop, "amount": 100, "currency": "KZT"})
        route = client.get(f"/admin/routes/{sandbox_shop}/sandbox")
        routes = client.get("/admin/routes")

    for response in (read, refund, capture):
        assert (response.status_code, response.json()["error"]["code"]) == (404, "payment_not_found")
    assert listed.json() == {"data": [], "next_cursor": None}
    assert (create.status_code, create.json()["error"]["code"]) == (404, "shop_not_found")
    assert (route.status_code, route.json()["error"]["code"]) == (404, "shop_not_found")
    assert {r["shop_id"] for r in routes.json()["data"]} == {SHOP}


# --- hostile input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"shop_id": SHOP, "amount": 1.5, "currency": "KZT"}, (422, "invalid_type", "amount"), id="fractional-minor-units"),
        pytest.param({"shop_id": SHOP, "amount": "100", "currency": "KZT"}, (422, "invalid_type", "amount"), id="string-amount"),
        pytest.param({"shop_id": SHOP, "amount": True, "currency": "KZT"}, (422, "invalid_type", "amount"), id="boolean-amount"),
        pytest.param({"shop_id": SHOP, "amount": -5, "currency": "KZT"}, (422, "invalid_value", "amount"), id="negative-amount"),
        pytest.param({"shop_id": SHOP, "amount": 0, "currency": "KZT", "provider": "kaspi", "phone": "77015211545"}, (422, "invalid_value", "amount"), id="zero-amount"),
        pytest.param({"shop_id": SHOP, "amount": 10**14, "currency": "KZT"}, (422, "invalid_value", "amount"), id="huge-amount"),
        pytest.param({"shop_id": SHOP, "amount": 100, "currency": "kzt"}, (422, "invalid_value", "currency"), id="lower-case-currency"),
        pytest.param({"shop_id": SHOP, "amount": 100, "currency": "XXX"}, (422, "invalid_value", "currency"), id="unknown-currency"),
        pytest.param({"shop_id": SHOP, "amount": 100}, (422, "missing_field", "currency"), id="no-currency"),
        pytest.param({"shop_id": SHOP, "amount": 100, "currency": "KZT", "method": "cash"}, (422, "invalid_value", "method"), id="unknown-method"),
        pytest.param({"shop_id": SHOP, "amount": 100, "currency": "KZT", "metadata": {"a": 1}}, (422, "invalid_type", "metadata.a"), id="metadata-number"),
        pytest.param({"shop_id": SHOP, "amount": 100, "currency": "KZT", "metadata": ["a"]}, (422, "invalid_type", "metadata"), id="metadata-list"),
        pytest.param({"shop_id": SHOP, "amount": 100, "currency": "KZT", "capture": "no"}, (422, "invalid_type", "capture"), id="capture-string"),
        pytest.param({"shop_id": SHOP, "amount": 100, "currency": "KZT", "tip": 5}, (422, "unknown_field", "tip"), id="unknown-field"),
        pytest.param({"shop_id": SHOP, "provider": "kaspi", "amount": 100, "currency": "USD", "phone": "77015211545"}, (422, "invalid_value", "currency"), id="currency-kaspi-does-not-take"),
        pytest.param({"shop_id": SHOP, "provider": "kaspi", "amount": 100, "currency": "KZT", "method": "card"}, (422, "capability_not_supported", None), id="method-kaspi-does-not-have"),
        pytest.param({"shop_id": SHOP, "provider": "kaspi", "amount": 100, "currency": "KZT", "capture": False, "phone": "77015211545"}, (422, "capability_not_supported", None), id="two-step-at-kaspi"),
        pytest.param({"shop_id": SHOP, "provider": "nope", "amount": 100, "currency": "KZT"}, (404, "shop_not_found", None), id="unknown-provider"),
    ],
)
def test_a_malformed_payment_is_refused_with_the_field_at_fault(
    api: httpx.Client, body: dict[str, Any], expected: tuple[int, str, str | None]
) -> None:
    response = api.post("/v1/payments", json=body)

    error = response.json()["error"]
    assert (response.status_code, error["code"], error["field"]) == expected


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        pytest.param("/v1/payments", {}, (422, "missing_field", "order_id"), id="list-without-a-filter"),
        pytest.param("/v1/payments", {"order_id": "a", "customer_id": "b"}, (422, "missing_field", "order_id"), id="list-with-both"),
        pytest.param("/v1/payments", {"customer_id": "b", "limit": "101"}, (422, "invalid_value", "limit"), id="limit-too-high"),
        pytest.param("/v1/payments", {"customer_id": "b", "limit": "0"}, (422, "invalid_value", "limit"), id="limit-zero"),
        pytest.param("/v1/payments", {"order_id": "a", "cursor": "pay_1"}, (422, "invalid_value", "cursor"), id="cursor-on-an-order"),
        pytest.param("/v1/payments", {"customer_id": "b", "sort": "asc"}, (422, "unknown_field", "sort"), id="unknown-parameter"),
        pytest.param("/v1/payments/pay_doesnotexist", {}, (404, "payment_not_found", None), id="unknown-payment"),
        pytest.param("/v1/payments/a%20b", {}, (422, "invalid_value", "id"), id="malformed-id"),
        pytest.param("/admin/routes/abc/kaspi", {}, (422, "invalid_value", "shop_id"), id="route-bad-shop"),
        pytest.param("/admin/routes/121038/Kaspi!", {}, (422, "invalid_value", "provider"), id="route-bad-provider"),
        pytest.param("/admin/routes/121038/stripe", {}, (404, "shop_not_found", None), id="route-missing"),
    ],
)
def test_a_malformed_read_is_refused_with_the_field_at_fault(
    api: httpx.Client, path: str, params: dict[str, str], expected: tuple[int, str, str | None]
) -> None:
    response = api.get(path, params=params)

    error = response.json()["error"]
    assert (response.status_code, error["code"], error["field"]) == expected


def test_a_refund_of_nothing_or_in_another_currencys_units_is_refused(api: httpx.Client, sandbox_shop: int) -> None:
    payment_id = card(api, sandbox_shop).json()["id"]

    zero = api.post(f"/v1/payments/{payment_id}/refunds", json={"amount": 0})
    fraction = api.post(f"/v1/payments/{payment_id}/refunds", json={"amount": 10.5})
    options = api.post(f"/v1/payments/{payment_id}/capture", json={"amount": 10})

    assert (zero.status_code, zero.json()["error"]["field"]) == (422, "amount")
    assert (fraction.status_code, fraction.json()["error"]["code"]) == (422, "invalid_type")
    assert (options.status_code, options.json()["error"]["code"]) == (422, "unknown_field")
