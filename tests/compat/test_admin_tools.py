"""The old service's admin tools: `/admin/configs` and `/admin/logs` answered as that service did
(bare JSON, `{"message"}` on DELETE, 400 for a shop that exists, `detail` in every error)."""

from __future__ import annotations

import secrets

import httpx

CONFIG_FIELDS = {"shop_id", "organization_bin", "is_active", "provider", "created_at", "updated_at"}
REAL_SHOPS = {121038, 576631, 75509, 69292, 49237, 56195, 71691, 8}
NEW_BIN = "180340021791"


def new_shop() -> int:
    return 900_000 + secrets.randbelow(99_999)


def test_the_config_list_is_a_bare_list_of_config_objects_never_a_token(operator: httpx.Client) -> None:
    response = operator.get("/admin/configs")

    assert response.status_code == 200
    configs = response.json()
    assert isinstance(configs, list)
    assert {c["shop_id"] for c in configs} >= REAL_SHOPS
    assert all(set(c) == CONFIG_FIELDS for c in configs)
    assert "device_token" not in response.text


def test_a_config_is_added_read_changed_and_deleted_with_the_old_answers(operator: httpx.Client) -> None:
    shop = new_shop()

    added = operator.post("/admin/configs", json={"shop_id": str(shop), "organization_bin": NEW_BIN, "city": "Almaty"})
    read = operator.get(f"/admin/configs/{shop}")
    changed = operator.put(f"/admin/configs/{shop}", json={"organization_bin": "940140000385", "note": "moved"})
    deleted = operator.delete(f"/admin/configs/{shop}")

    assert added.status_code == 200, added.text
    assert set(added.json()) == CONFIG_FIELDS
    assert (added.json()["shop_id"], added.json()["is_active"]) == (shop, True)
    assert read.json() == added.json()
    assert (changed.status_code, changed.json()["organization_bin"]) == (200, "940140000385")
    assert (deleted.status_code, set(deleted.json())) == (200, {"message"})
    assert operator.get(f"/admin/configs/{shop}").json()["is_active"] is False


def test_adding_a_shop_that_exists_is_400_active_or_not_and_put_reactivates_it(operator: httpx.Client) -> None:
    shop = new_shop()
    assert operator.post("/admin/configs", json={"shop_id": shop, "organization_bin": NEW_BIN}).status_code == 200

    again = operator.post("/admin/configs", json={"shop_id": shop, "organization_bin": NEW_BIN})
    operator.delete(f"/admin/configs/{shop}")
    inactive_again = operator.post("/admin/configs", json={"shop_id": shop, "organization_bin": NEW_BIN})
    reactivated = operator.put(f"/admin/configs/{shop}", json={"is_active": True})

    for refused in (again, inactive_again):
        assert refused.status_code == 400, refused.text
        assert refused.json()["detail"] == refused.json()["error"]["message"]
        assert refused.json()["error"]["field"] == "shop_id"
    assert reactivated.json()["is_active"] is True


def test_an_unknown_shop_is_404_with_the_old_detail(operator: httpx.Client) -> None:
    for response in (
        operator.get("/admin/configs/999999"),
        operator.put("/admin/configs/999999", json={"is_active": True}),
        operator.delete("/admin/configs/999999"),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == response.json()["error"]["message"]


def test_a_wrong_config_is_refused_with_the_field_and_the_old_detail(operator: httpx.Client) -> None:
    response = operator.post("/admin/configs", json={"shop_id": new_shop(), "organization_bin": "180340021792"})

    assert (response.status_code, response.json()["error"]["field"]) == (422, "organization_bin")
    assert response.json()["detail"] == response.json()["error"]["message"]


def test_the_audit_log_is_a_bare_list_in_minor_units(operator: httpx.Client) -> None:
    response = operator.get("/admin/logs", params={"limit": 5})

    assert response.status_code == 200
    assert isinstance(response.json(), list) and response.json()
    assert all(entry["amount"] is None or isinstance(entry["amount"], int) for entry in response.json())
    bad = operator.get("/admin/logs", params={"limit": "many"})
    assert bad.json()["detail"] == bad.json()["error"]["message"]
