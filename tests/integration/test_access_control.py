"""Access control through the real app on PostgreSQL: scopes, keys restricted to shops, audited admin changes."""

from __future__ import annotations

import httpx
import pytest

from config.settings import Settings

from tests.support.gateways import RunningGateway, issue_key

pytestmark = pytest.mark.postgres

SHOP = 121038  # Eileen flowers
OTHER_SHOP = 576631  # VLVT Flowers Almaty
UNKNOWN_SHOP = 999_999
PHONE = "+7 701 521 15 45"


def client(gateway: RunningGateway, key: str) -> httpx.Client:
    return httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def paid_payment(gateway: RunningGateway, http: httpx.Client, shop: int, amount: int = 5000) -> str:
    created = http.post("/payments/kaspi/create", json={"shop_id": shop, "amount": amount, "phone": PHONE})
    assert created.status_code == 200, created.text
    external_id: str = created.json()["external_id"]
    assert httpx.post(f"{gateway.base_url}/sandbox/kaspi/payments/{external_id}/approve").status_code == 200
    assert http.get(f"/payments/kaspi/status/{external_id}").json()["status"] == "Processed"
    return external_id


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_key_of_the_foundations_payments_scope_still_creates_reads_and_refunds(
    gateway: RunningGateway, settings: Settings
) -> None:
    key = issue_key(settings, ["payments"]).plaintext
    with client(gateway, key) as http:
        external_id = paid_payment(gateway, http, SHOP)
        refund = http.post("/payments/kaspi/refund", json={"shop_id": SHOP, "external_id": external_id, "amount": 5000})
    assert refund.status_code == 200, refund.text


def test_a_read_key_reads_but_cannot_bill_or_refund(gateway: RunningGateway, settings: Settings) -> None:
    writer = issue_key(settings, ["payments:write", "payments:read"]).plaintext
    reader = issue_key(settings, ["payments:read"]).plaintext
    with client(gateway, writer) as http:
        external_id = paid_payment(gateway, http, SHOP)
    with client(gateway, reader) as http:
        assert http.get(f"/payments/kaspi/status/{external_id}").status_code == 200
        create = http.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 100, "phone": PHONE})
        refund = http.post("/payments/kaspi/refund", json={"shop_id": SHOP, "external_id": external_id, "amount": 1})
        configs = http.get("/admin/configs")
    assert error_of(create) == error_of(refund) == error_of(configs) == (403, "forbidden")


def test_a_write_key_bills_but_cannot_read(gateway: RunningGateway, settings: Settings) -> None:
    writer = issue_key(settings, ["payments:write"]).plaintext
    with client(gateway, writer) as http:
        created = http.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 100, "phone": PHONE})
        assert created.status_code == 200, created.text
        status = http.get(f"/payments/kaspi/status/{created.json()['external_id']}")
    assert error_of(status) == (403, "forbidden")


def test_a_key_for_one_seller_sees_nothing_of_another_sellers_payments(
    gateway: RunningGateway, settings: Settings
) -> None:
    marketplace = issue_key(settings, ["payments"]).plaintext
    seller = issue_key(settings, ["payments"], shops=[SHOP]).plaintext
    with client(gateway, marketplace) as http:
        others = paid_payment(gateway, http, OTHER_SHOP)
    with client(gateway, seller) as http:
        own = paid_payment(gateway, http, SHOP)
        read_other = http.get(f"/payments/kaspi/status/{others}")
        read_unknown = http.get("/payments/kaspi/status/99999999999")
        refund_other = http.post("/payments/kaspi/refund", json={"shop_id": OTHER_SHOP, "external_id": others, "amount": 1})
        refund_as_own = http.post("/payments/kaspi/refund", json={"shop_id": SHOP, "external_id": others, "amount": 1})
        bill_other = http.post("/payments/kaspi/create", json={"shop_id": OTHER_SHOP, "amount": 100, "phone": PHONE})
        bill_unknown = http.post("/payments/kaspi/create", json={"shop_id": UNKNOWN_SHOP, "amount": 100, "phone": PHONE})
        refund_own = http.post("/payments/kaspi/refund", json={"shop_id": SHOP, "external_id": own, "amount": 5000})

    # Another seller's payment answers exactly as one that does not exist: nothing to probe.
    assert error_of(read_other) == error_of(read_unknown) == (404, "payment_not_found")
    assert error_of(refund_as_own) == (404, "payment_not_found")
    assert error_of(refund_other) == error_of(bill_other) == error_of(bill_unknown) == (404, "shop_not_found")
    assert refund_own.status_code == 200, refund_own.text
    with client(gateway, marketplace) as http:
        assert http.get(f"/payments/kaspi/status/{others}").json()["status"] == "Processed"  # untouched


def test_an_admin_key_for_one_seller_manages_only_that_seller(gateway: RunningGateway, settings: Settings) -> None:
    admin = issue_key(settings, ["admin"], shops=[SHOP]).plaintext
    with client(gateway, admin) as http:
        listed = http.get("/admin/configs")
        own = http.get(f"/admin/configs/{SHOP}")
        other = http.get(f"/admin/configs/{OTHER_SHOP}")
        change_other = http.put(f"/admin/configs/{OTHER_SHOP}", json={"is_active": False})
        deactivate_other = http.delete(f"/admin/configs/{OTHER_SHOP}")
        all_logs = http.get("/admin/logs")
        other_logs = http.get("/admin/logs", params={"shop_id": OTHER_SHOP})
        own_logs = http.get("/admin/logs", params={"shop_id": SHOP})

    assert [c["shop_id"] for c in listed.json()] == [SHOP]
    assert own.status_code == 200
    assert error_of(other) == error_of(change_other) == error_of(deactivate_other) == (404, "shop_not_found")
    assert (all_logs.status_code, all_logs.json()["error"]["field"]) == (422, "shop_id")
    assert error_of(other_logs) == (404, "shop_not_found")
    assert own_logs.status_code == 200


def test_every_admin_change_is_in_the_audit_log_with_the_keys_name(
    gateway: RunningGateway, settings: Settings
) -> None:
    issued = issue_key(settings, ["admin"])
    name, admin = issued.name, issued.plaintext
    with client(gateway, admin) as http:
        assert http.put(f"/admin/configs/{OTHER_SHOP}", json={"is_active": False}).status_code == 200
        assert http.put(f"/admin/configs/{OTHER_SHOP}", json={"is_active": True}).status_code == 200
        logs = http.get("/admin/logs", params={"shop_id": OTHER_SHOP, "limit": 50}).json()
    mine = [(entry["operation_type"], entry["actor"]) for entry in logs if entry["actor"] == name]
    assert mine == [("route_update", name), ("route_deactivate", name)]


@pytest.mark.parametrize("header", ["", "Bearer", "Basic abc", "Bearer pgk_not-a-key", "Bearer  pgk_x y"])
def test_no_key_or_an_unknown_key_is_401(gateway: RunningGateway, header: str) -> None:
    response = httpx.get(f"{gateway.base_url}/admin/configs", headers={"Authorization": header} if header else {})
    assert error_of(response) == (401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
