"""The Bitrix PHP client: `GET /api/payment/config`, `POST /api/payment/log`, `PATCH /api/payment/status`,
with no key configured (the default), from behind the marketplace's proxy.

It takes any config with `is_active` present as usable, passes `device_token` to Kaspi as given,
and on any non-200 answer falls back to its own configured account.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.compat.conftest import FORWARDED_LEGACY
from tests.support.logs import JsonLogs

SHOP = 576631  # VLVT Flowers Almaty: a real seller, no device token
SHOP_BIN = "210440028324"
TEST_SHOP, TEST_SHOP_BIN = 8, "891027350515"


def test_bitrix_reads_a_real_sellers_config_without_a_key_and_gets_a_null_device_token(bitrix: httpx.Client) -> None:
    response = bitrix.get("/api/payment/config", params={"shop_id": SHOP})

    assert response.status_code == 200, response.text
    assert response.json() == {
        "shop_id": SHOP, "organization_bin": SHOP_BIN, "device_token": None, "is_active": True, "provider": "kaspi",
    }


def test_bitrix_config_reads_are_access_logged_as_the_legacy_caller_with_its_address(
    bitrix: httpx.Client, json_logs: JsonLogs
) -> None:
    response = bitrix.get("/api/payment/config", params={"shop_id": SHOP}, headers={"X-Request-ID": "bx-config-1"})

    assert response.status_code == 200
    [access] = json_logs.events("request", request_id="bx-config-1")
    assert (access["path"], access["api_key"]) == ("/api/payment/config", f"legacy-network@{FORWARDED_LEGACY}")


def test_bitrix_gets_403_shop_inactive_for_a_deactivated_seller_never_its_bin(
    bitrix: httpx.Client, operator: httpx.Client
) -> None:
    assert operator.delete(f"/admin/configs/{TEST_SHOP}").status_code == 200
    try:
        response = bitrix.get("/api/payment/config", params={"shop_id": TEST_SHOP})
    finally:
        assert operator.put(f"/admin/configs/{TEST_SHOP}", json={"is_active": True}).status_code == 200

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "shop_inactive"
    assert response.json()["detail"] == response.json()["error"]["message"]
    assert TEST_SHOP_BIN not in response.text


def test_bitrix_gets_a_non_200_for_an_unknown_shop_with_the_old_detail(bitrix: httpx.Client) -> None:
    response = bitrix.get("/api/payment/config", params={"shop_id": 999_999})

    assert response.status_code == 404
    assert response.json()["detail"] == response.json()["error"]["message"]


def log_entry(**changes: Any) -> dict[str, Any]:
    """A log entry as the client sends it after a Kaspi call: Kaspi's Amount, in tenge."""
    return {
        "shop_id": SHOP, "organization_bin": SHOP_BIN, "operation_type": "create", "external_id": "12800627774",
        "amount": "100.50", "status": "Wait", "error_message": None, "provider": "kaspi",
    } | changes


def logged(operator: httpx.Client, external_id: str) -> list[dict[str, Any]]:
    entries = operator.get("/admin/logs", params={"shop_id": SHOP, "limit": 1000}).json()
    return [e for e in entries if e["external_id"] == external_id]


@pytest.mark.parametrize(("sent", "tiyn"), [("100.50", 10050), (100.5, 10050), (100, 10000), ("7", 700), ("0.01", 1)])
def test_bitrix_logs_an_amount_in_tenge_and_it_is_stored_in_tiyn(
    bitrix: httpx.Client, operator: httpx.Client, sent: Any, tiyn: int
) -> None:
    external_id = str(10**10 + secrets.randbelow(10**10))

    response = bitrix.post("/api/payment/log", json=log_entry(amount=sent, external_id=external_id, note="ignored"))

    assert response.status_code == 201, response.text
    [entry] = logged(operator, external_id)
    assert (entry["amount"], entry["currency"]) == (tiyn, "KZT")
    assert entry["actor"] == f"legacy-network@{FORWARDED_LEGACY}"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"amount": "100.505"}, "invalid_value", "amount"),
        ({"amount": 100.505}, "invalid_value", "amount"),
        ({"amount": "-1"}, "invalid_value", "amount"),
        ({"amount": -1}, "invalid_value", "amount"),
        ({"amount": "abc"}, "invalid_value", "amount"),
        ({"amount": "1e2"}, "invalid_value", "amount"),
        ({"shop_id": "57 6631"}, "invalid_type", "shop_id"),
    ],
)
def test_bitrix_gets_a_clear_4xx_with_the_field_for_a_wrong_log_entry(
    bitrix: httpx.Client, changes: dict[str, Any], code: str, field: str
) -> None:
    response = bitrix.post("/api/payment/log", json=log_entry(**changes))

    assert response.status_code == 422, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert response.json()["detail"] == response.json()["error"]["message"]


def test_bitrix_gets_the_field_for_a_nan_amount(bitrix: httpx.Client) -> None:
    sent = log_entry(amount=0).copy()
    raw = httpx.Request("POST", "/", json=sent).content.replace(b'"amount":0', b'"amount":NaN')
    assert b"NaN" in raw

    response = bitrix.post("/api/payment/log", content=raw, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == ("invalid_json", "amount")


def test_bitrix_reports_a_status_without_a_key(bitrix: httpx.Client, backend: httpx.Client) -> None:
    created = backend.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 700, "phone": "77015211545"})
    external_id = created.json()["external_id"]

    response = bitrix.patch(
        "/api/payment/status", json={"shop_id": str(SHOP), "external_id": external_id, "status": "Wait", "source": "bx"}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "shop_id": SHOP, "external_id": external_id, "status": "Wait"}
