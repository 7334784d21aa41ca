"""The marketplace backend's Python client: `POST /payments/kaspi/create` and
`GET /payments/kaspi/status?external_id=` with no auth header, retrying any error four times."""

from __future__ import annotations

import secrets
import threading
from typing import Any

import httpx
import pytest

from config.settings import Settings

from tests.compat.conftest import PROXY, UNTRUSTED_HOST, client_from, proxy_calls
from tests.support.gateways import RunningGateway, issue_key

SHOP = 121038  # Eileen flowers: a real seller, no device token
SHOP_BIN = "920317450731"
PHONE = "87015211545"


def order(**changes: Any) -> dict[str, Any]:
    """A create as the backend sends it; the message names a fresh order, so each test's calls are its own."""
    return {"shop_id": SHOP, "amount": 5000, "phone": PHONE, "message": f"Order {secrets.token_hex(6)}"} | changes


def audit_actors(operator: httpx.Client, external_id: str) -> list[str]:
    entries = operator.get("/admin/logs", params={"shop_id": SHOP, "limit": 1000}).json()
    return [e["actor"] for e in entries if e["external_id"] == external_id and e["operation_type"] == "create"]


def test_the_backend_creates_a_payment_without_any_auth_header_from_its_trusted_address(
    backend: httpx.Client, kaspi: httpx.Client, operator: httpx.Client
) -> None:
    body = order()

    response = backend.post("/payments/kaspi/create", json=body)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["success"], answer["status"], answer["organization_bin"]) == (True, "Wait", SHOP_BIN)
    assert audit_actors(operator, answer["external_id"]) == ["legacy-network@127.0.0.2"]
    [call] = proxy_calls(kaspi, "create", body["message"])
    assert call["organizationBin"] == SHOP_BIN and "deviceToken" not in call  # the real seller has none


def test_the_backend_reads_a_status_by_the_query_form_like_the_path_form(backend: httpx.Client) -> None:
    external_id = backend.post("/payments/kaspi/create", json=order()).json()["external_id"]

    by_query = backend.get("/payments/kaspi/status", params={"external_id": external_id})
    by_path = backend.get(f"/payments/kaspi/status/{external_id}")

    assert by_query.status_code == 200, by_query.text
    assert by_query.json() == by_path.json() == {"success": True, "external_id": external_id, "status": "Wait"}


def test_the_backend_status_query_without_or_with_a_bad_external_id_is_refused_with_the_field(
    backend: httpx.Client,
) -> None:
    missing = backend.get("/payments/kaspi/status")
    garbage = backend.get("/payments/kaspi/status", params={"external_id": "12; DROP"})

    assert (missing.status_code, missing.json()["error"]["code"], missing.json()["error"]["field"]) == (422, "missing_field", "external_id")
    assert (garbage.status_code, garbage.json()["error"]["field"]) == (422, "external_id")
    assert garbage.json()["detail"] == garbage.json()["error"]["message"]


def test_the_backend_sends_numbers_as_strings_and_extra_fields(backend: httpx.Client, kaspi: httpx.Client) -> None:
    body = order(shop_id=str(SHOP), amount="5000.50", order_id="1001", source="crm")

    response = backend.post("/payments/kaspi/create", json=body)

    assert response.status_code == 200, response.text
    [call] = proxy_calls(kaspi, "create", body["message"])
    assert call["amount"] == "5000.50"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"amount": "5000.001"}, "invalid_value", "amount"),
        ({"amount": "-5000"}, "invalid_value", "amount"),
        ({"amount": "5e3"}, "invalid_value", "amount"),
        ({"amount": " 5000"}, "invalid_value", "amount"),
        ({"amount": "NaN"}, "invalid_value", "amount"),
        ({"amount": 5000.001}, "invalid_value", "amount"),
        ({"shop_id": "+121038"}, "invalid_type", "shop_id"),
        ({"shop_id": "121038.0"}, "invalid_type", "shop_id"),
    ],
)
def test_the_backend_gets_a_clear_refusal_with_the_field_for_what_is_wrong(
    backend: httpx.Client, kaspi: httpx.Client, changes: dict[str, Any], code: str, field: str
) -> None:
    body = order(**changes)

    response = backend.post("/payments/kaspi/create", json=body)

    assert response.status_code == 422, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert response.json()["detail"] == response.json()["error"]["message"]
    assert proxy_calls(kaspi, "create", body["message"]) == []


def test_a_retried_identical_create_gets_the_first_answer_and_bills_once(
    backend: httpx.Client, kaspi: httpx.Client
) -> None:
    body = order()

    answers = [backend.post("/payments/kaspi/create", json=body) for _ in range(5)]  # the first + 4 retries

    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["external_id"] for a in answers}) == 1
    assert len(proxy_calls(kaspi, "create", body["message"])) == 1


def test_the_same_content_spelled_differently_is_the_same_create(backend: httpx.Client, kaspi: httpx.Client) -> None:
    body = order()
    respelled = body | {"shop_id": str(SHOP), "amount": "5000.00", "phone": "+7 701 521 15 45"}

    first = backend.post("/payments/kaspi/create", json=body)
    second = backend.post("/payments/kaspi/create", json=respelled)

    assert first.json()["external_id"] == second.json()["external_id"]
    assert len(proxy_calls(kaspi, "create", body["message"])) == 1


def test_a_different_order_is_a_new_payment(backend: httpx.Client, kaspi: httpx.Client) -> None:
    first = backend.post("/payments/kaspi/create", json=order())
    second = backend.post("/payments/kaspi/create", json=order())

    assert first.json()["external_id"] != second.json()["external_id"]


def test_orders_told_apart_only_by_a_field_the_gateway_ignores_are_two_payments(
    backend: httpx.Client, kaspi: httpx.Client
) -> None:
    body = order(message="Оплата заказа")

    first = backend.post("/payments/kaspi/create", json=body | {"order_id": 1001})
    second = backend.post("/payments/kaspi/create", json=body | {"order_id": 1002})
    retry = backend.post("/payments/kaspi/create", json=body | {"order_id": 1002})

    assert first.json()["external_id"] != second.json()["external_id"] == retry.json()["external_id"]


def test_a_retry_after_a_timeout_gets_the_unknown_outcome_never_a_second_bill(
    backend: httpx.Client, kaspi: httpx.Client
) -> None:
    body = order()
    kaspi.post("/knobs", json={"fault": "timeout", "fault_count": 1, "fault_operations": ["create"]})

    first = backend.post("/payments/kaspi/create", json=body)
    retries = [backend.post("/payments/kaspi/create", json=body) for _ in range(4)]

    assert first.status_code == 504, first.text
    reference = first.json()["error"]["reference"]
    for retry in retries:
        assert retry.status_code in (502, 504), retry.text
        assert (retry.json()["error"]["code"], retry.json()["error"]["reference"]) == ("provider_outcome_unknown", reference)
    assert len(proxy_calls(kaspi, "create", body["message"])) == 1


def test_concurrent_identical_creates_bill_once(backend: httpx.Client, kaspi: httpx.Client) -> None:
    """The backend's retry can overlap the first attempt (its own timeout is shorter than Kaspi's
    answer): both are one payment, on either database."""
    body = order()
    kaspi.post("/knobs", json={"latency_ms": 300})
    start = threading.Barrier(4)
    answers: list[httpx.Response] = []

    def send() -> None:
        start.wait()
        answers.append(backend.post("/payments/kaspi/create", json=body))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(proxy_calls(kaspi, "create", body["message"])) == 1
    # One bill; a twin that found it still on its way is told so (409) and its retry gets the answer.
    assert sorted({a.status_code for a in answers}) in ([200], [200, 409]), [a.text for a in answers]
    assert backend.post("/payments/kaspi/create", json=body).status_code == 200
    assert len({a.json()["external_id"] for a in answers if a.status_code == 200}) == 1


def test_an_idempotency_key_when_sent_decides_instead_of_the_content(
    backend: httpx.Client, kaspi: httpx.Client
) -> None:
    body = order()

    first = backend.post("/payments/kaspi/create", json=body, headers={"Idempotency-Key": "a"})
    second = backend.post("/payments/kaspi/create", json=body, headers={"Idempotency-Key": "b"})

    assert first.json()["external_id"] != second.json()["external_id"]
    assert len(proxy_calls(kaspi, "create", body["message"])) == 2


def test_an_untrusted_address_without_a_key_still_gets_401(gateway: RunningGateway) -> None:
    with client_from(gateway, UNTRUSTED_HOST) as direct, client_from(
        gateway, PROXY, headers={"X-Forwarded-For": "192.0.2.7"}
    ) as forwarded, client_from(gateway, PROXY) as proxy_itself:
        for http in (direct, forwarded, proxy_itself):
            response = http.post("/payments/kaspi/create", json=order())
            assert response.status_code == 401, response.text
            assert response.json()["detail"] == response.json()["error"]["message"]


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_not_believed(gateway: RunningGateway) -> None:
    with client_from(gateway, UNTRUSTED_HOST, headers={"X-Forwarded-For": "10.20.4.5"}) as http:
        assert http.post("/payments/kaspi/create", json=order()).status_code == 401


def test_a_key_when_sent_decides_even_from_a_trusted_address(
    backend: httpx.Client, settings: Settings
) -> None:
    read_only = issue_key(settings, ["payments:read"]).plaintext

    unknown = backend.post("/payments/kaspi/create", json=order(), headers={"Authorization": "Bearer nope"})
    weak = backend.post("/payments/kaspi/create", json=order(), headers={"Authorization": f"Bearer {read_only}"})

    assert (unknown.status_code, weak.status_code) == (401, 403)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/payments/kaspi/refund", {"shop_id": SHOP, "external_id": "12800627774", "amount": 10}),
        ("POST", "/payments/kaspi/create-link", {"shop_id": SHOP, "amount": 10}),
        ("GET", "/admin/configs", None),
        ("GET", "/admin/logs", None),
        ("POST", "/v1/payments", {"shop_id": SHOP, "amount": 1000, "currency": "KZT"}),
        ("GET", "/admin/webhooks", None),
    ],
)
def test_everything_but_the_known_keyless_calls_still_needs_a_key_from_a_trusted_address(
    backend: httpx.Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    assert backend.request(method, path, json=body).status_code == 401
