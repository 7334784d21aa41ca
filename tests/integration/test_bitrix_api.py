"""The Bitrix client's calls (`/api/...`) through the real app on PostgreSQL, as the client makes them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from config.settings import Settings

from tests.support.gateways import RunningGateway, demo_sellers, issue_key

pytestmark = pytest.mark.postgres

SHOP = 121038
SHOP_BIN = "920317450731"
OTHER_SHOP = 576631
PHONE = "77015211545"
TOKENS = {int(row["shop_id"]): row["device_token"] for row in demo_sellers()}


@pytest.fixture
def bitrix(gateway: RunningGateway, settings: Settings) -> Iterator[httpx.Client]:
    """The client as Bitrix runs it: a key of the foundation's `payments` scope."""
    key = issue_key(settings, ["payments"]).plaintext
    with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        yield http


def sandbox(gateway: RunningGateway, action: str, external_id: str) -> None:
    assert httpx.post(f"{gateway.base_url}/sandbox/kaspi/payments/{external_id}/{action}").status_code == 200


def billed(http: httpx.Client, shop: int = SHOP) -> str:
    created = http.post("/payments/kaspi/create", json={"shop_id": shop, "amount": 5000, "phone": PHONE})
    assert created.status_code == 200, created.text
    external_id: str = created.json()["external_id"]
    return external_id


def logs_by(http_admin: httpx.Client, shop: int, actor: str) -> list[dict[str, Any]]:
    logs = http_admin.get("/admin/logs", params={"shop_id": shop, "limit": 200}).json()
    return [entry for entry in logs if entry["actor"] == actor]


@pytest.fixture
def admin(gateway: RunningGateway, settings: Settings) -> Iterator[httpx.Client]:
    key = issue_key(settings, ["admin"]).plaintext
    with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        yield http


# GET /api/payment/config


def test_the_config_of_a_shop_has_exactly_the_fields_the_client_reads(bitrix: httpx.Client) -> None:
    response = bitrix.get("/api/payment/config", params={"shop_id": SHOP})

    assert response.status_code == 200
    assert response.json() == {
        "shop_id": SHOP, "organization_bin": SHOP_BIN, "device_token": None, "is_active": True, "provider": "kaspi",
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_the_device_token_is_given_only_to_a_key_allowed_to_read_secrets(
    gateway: RunningGateway, settings: Settings
) -> None:
    key = issue_key(settings, ["payments:read", "routes:secrets"]).plaintext
    response = httpx.get(
        f"{gateway.base_url}/api/payment/config", params={"shop_id": SHOP}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.json()["device_token"] == TOKENS[SHOP]


def test_secrets_alone_do_not_open_the_config(gateway: RunningGateway, settings: Settings) -> None:
    key = issue_key(settings, ["routes:secrets"]).plaintext
    response = httpx.get(
        f"{gateway.base_url}/api/payment/config", params={"shop_id": SHOP}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"shop_id": 999_999}, 404, "shop_not_found"),
        ({}, 422, "missing_field"),
        ({"shop_id": "abc"}, 422, "invalid_value"),
        ({"shop_id": "-5"}, 422, "invalid_value"),
        ({"shop_id": "0"}, 422, "invalid_value"),
        ({"shop_id": "99999999999999999999"}, 422, "invalid_value"),
        ({"shop_id": [SHOP, OTHER_SHOP]}, 422, "invalid_value"),
    ],
)
def test_a_config_for_an_unknown_or_malformed_shop_is_refused(
    bitrix: httpx.Client, params: dict[str, Any], status: int, code: str
) -> None:
    response = bitrix.get("/api/payment/config", params=params)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_a_key_for_another_seller_gets_404_for_this_shops_config(gateway: RunningGateway, settings: Settings) -> None:
    key = issue_key(settings, ["payments", "routes:secrets"], shops=[OTHER_SHOP]).plaintext
    response = httpx.get(
        f"{gateway.base_url}/api/payment/config", params={"shop_id": SHOP}, headers={"Authorization": f"Bearer {key}"}
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "shop_not_found")


# POST /api/payment/log


def log_body(**changes: Any) -> dict[str, Any]:
    body = {
        "shop_id": SHOP, "organization_bin": SHOP_BIN, "operation_type": "create", "external_id": "12800627774",
        "amount": 5000, "status": "Wait", "error_message": None, "provider": "kaspi",
    }
    return {k: v for k, v in (body | changes).items() if v is not ...}


def test_a_log_entry_lands_in_the_audit_log_under_the_clients_key(
    gateway: RunningGateway, settings: Settings, admin: httpx.Client
) -> None:
    issued = issue_key(settings, ["payments"])
    name, key = issued.name, issued.plaintext
    with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {key}"}) as http:
        response = http.post("/api/payment/log", json=log_body(status="error", error_message="Kaspi said -1501"))

    assert response.status_code == 201, response.text
    [entry] = logs_by(admin, SHOP, name)
    assert {k: entry[k] for k in ("operation_type", "external_id", "amount", "status", "error_message", "provider")} == {
        "operation_type": "create", "external_id": "12800627774", "amount": 500000, "status": "error",
        "error_message": "Kaspi said -1501", "provider": "kaspi",
    }
    assert (entry["organization_bin"], entry["currency"]) == (SHOP_BIN, "KZT")


@pytest.mark.parametrize(("sent", "stored"), [("Wait", "pending"), ("Processed", "success"), ("Error", "error"), ("success", "success")])
def test_a_log_status_in_kaspis_words_or_ours_is_understood(bitrix: httpx.Client, sent: str, stored: str) -> None:
    response = bitrix.post("/api/payment/log", json=log_body(status=sent))
    assert response.status_code == 201, response.text
    assert response.json()["log"]["status"] == stored


@pytest.mark.parametrize(
    ("changes", "status", "code", "field"),
    [
        ({"shop_id": 999_999}, 404, "shop_not_found", None),
        ({"shop_id": ...}, 422, "missing_field", "shop_id"),
        ({"organization_bin": "180340021792"}, 422, "invalid_value", "organization_bin"),
        ({"organization_bin": ...}, 422, "missing_field", "organization_bin"),
        ({"operation_type": "drop table"}, 422, "invalid_value", "operation_type"),
        ({"status": "Paid"}, 422, "invalid_value", "status"),
        ({"status": ...}, 422, "missing_field", "status"),
        ({"amount": 50.505}, 422, "invalid_value", "amount"),
        ({"amount": -1}, 422, "invalid_value", "amount"),
        ({"amount": 10**14}, 422, "invalid_value", "amount"),
        ({"amount": "5e2"}, 422, "invalid_value", "amount"),
        ({"amount": True}, 422, "invalid_type", "amount"),
        ({"external_id": "12800627774; DROP"}, 422, "invalid_value", "external_id"),
        ({"provider": "Kaspi Pay"}, 422, "invalid_value", "provider"),
        ({"error_message": "x" * 1001}, 422, "too_long", "error_message"),
    ],
)
def test_a_log_entry_is_validated_strictly(
    bitrix: httpx.Client, changes: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    response = bitrix.post("/api/payment/log", json=log_body(**changes))
    assert response.status_code == status, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)


# PATCH /api/payment/status


def test_a_reported_payment_is_applied_once_kaspi_confirms_it(
    gateway: RunningGateway, bitrix: httpx.Client
) -> None:
    external_id = billed(bitrix)
    sandbox(gateway, "approve", external_id)

    response = bitrix.patch("/api/payment/status", json={"shop_id": SHOP, "external_id": external_id, "status": "Processed"})

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "shop_id": SHOP, "external_id": external_id, "status": "Processed"}


def test_a_fabricated_payment_is_refused_and_changes_nothing(gateway: RunningGateway, bitrix: httpx.Client) -> None:
    external_id = billed(bitrix)  # the customer has not paid: Kaspi still says Wait

    response = bitrix.patch("/api/payment/status", json={"shop_id": SHOP, "external_id": external_id, "status": "Processed"})

    assert (response.status_code, response.json()["error"]["code"]) == (409, "status_not_confirmed")
    assert bitrix.get(f"/payments/kaspi/status/{external_id}").json()["status"] == "Wait"


def test_an_illegal_transition_is_refused_with_409(gateway: RunningGateway, bitrix: httpx.Client) -> None:
    external_id = billed(bitrix)
    sandbox(gateway, "approve", external_id)
    assert bitrix.get(f"/payments/kaspi/status/{external_id}").json()["status"] == "Processed"

    response = bitrix.patch(
        "/api/payment/status",
        json={"shop_id": SHOP, "external_id": external_id, "status": "Error", "error_message": "customer cancelled"},
    )

    assert (response.status_code, response.json()["error"]["code"]) == (409, "illegal_transition")
    assert bitrix.get(f"/payments/kaspi/status/{external_id}").json()["status"] == "Processed"


def test_a_reported_decline_confirmed_by_kaspi_is_applied_with_the_clients_message(
    gateway: RunningGateway, bitrix: httpx.Client, admin: httpx.Client, settings: Settings
) -> None:
    issued = issue_key(settings, ["payments:write", "payments:read"])
    name, key = issued.name, issued.plaintext
    with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {key}"}) as http:
        external_id = billed(http)
        sandbox(gateway, "decline", external_id)
        response = http.patch(
            "/api/payment/status",
            json={"shop_id": SHOP, "external_id": external_id, "status": "Error", "error_message": "declined in app"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Error"
    entries = [(e["operation_type"], e["status"], e["error_message"]) for e in logs_by(admin, SHOP, name)]
    assert ("status_report", "success", "declined in app") in entries
    assert ("status_change", "success", None) in entries


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"shop_id": OTHER_SHOP}, 404, "payment_not_found"),  # another seller's payment
        ({"shop_id": 999_999}, 404, "shop_not_found"),
        ({"external_id": "99999999999"}, 404, "payment_not_found"),
        ({"status": "Paid"}, 422, "invalid_value"),
        ({"status": "processed"}, 422, "invalid_value"),
        ({"external_id": 12800627774}, 422, "invalid_type"),
    ],
)
def test_a_status_report_out_of_reach_or_malformed_is_refused(
    bitrix: httpx.Client, body: dict[str, Any], status: int, code: str
) -> None:
    external_id = billed(bitrix)
    sent = {"shop_id": SHOP, "external_id": external_id, "status": "Processed"} | body
    response = bitrix.patch("/api/payment/status", json=sent)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_a_read_only_key_cannot_report_or_log(gateway: RunningGateway, settings: Settings) -> None:
    key = issue_key(settings, ["payments:read"]).plaintext
    with httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {key}"}) as http:
        report = http.patch("/api/payment/status", json={"shop_id": SHOP, "external_id": "1", "status": "Wait"})
        log = http.post("/api/payment/log", json=log_body())
    assert report.status_code == log.status_code == 403


# GET /api/health


def test_health_answers_without_a_key(gateway: RunningGateway) -> None:
    response = httpx.get(f"{gateway.base_url}/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
