"""A small synchronous client of the gateway's HTTP API for the acceptance steps."""

from __future__ import annotations

from typing import Any

import httpx


class GatewayClient:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
        self.sandbox = httpx.Client(base_url=f"{base_url}/sandbox/kaspi", timeout=10)

    def close(self) -> None:
        self.http.close()
        self.sandbox.close()

    # Payments (the legacy Kaspi endpoints)

    def create_payment(
        self, shop_id: int, amount: Any, phone: str, message: str = "", idempotency_key: str | None = None
    ) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"shop_id": shop_id, "amount": amount, "phone": phone, "message": message}
        return self.http.post("/payments/kaspi/create", json=body, headers=headers)

    def create_link(self, shop_id: int, amount: Any, message: str = "") -> httpx.Response:
        return self.http.post("/payments/kaspi/create-link", json={"shop_id": shop_id, "amount": amount, "message": message})

    def status(self, external_id: str) -> httpx.Response:
        return self.http.get(f"/payments/kaspi/status/{external_id}")

    def refund(self, shop_id: int, external_id: str, amount: Any) -> httpx.Response:
        return self.http.post(
            "/payments/kaspi/refund", json={"shop_id": shop_id, "external_id": external_id, "amount": amount}
        )

    # Operators

    def add_config(self, shop_id: int, organization_bin: str, device_token: str) -> httpx.Response:
        body = {"shop_id": shop_id, "organization_bin": organization_bin, "device_token": device_token}
        return self.http.post("/admin/configs", json=body)

    def update_config(self, shop_id: int, **changes: Any) -> httpx.Response:
        return self.http.put(f"/admin/configs/{shop_id}", json=changes)

    def deactivate_config(self, shop_id: int) -> httpx.Response:
        return self.http.delete(f"/admin/configs/{shop_id}")

    def config(self, shop_id: int) -> httpx.Response:
        return self.http.get(f"/admin/configs/{shop_id}")

    def configs(self) -> httpx.Response:
        return self.http.get("/admin/configs")

    def logs(self, shop_id: int, limit: int = 100) -> httpx.Response:
        return self.http.get("/admin/logs", params={"shop_id": shop_id, "limit": limit})

    # The Kaspi simulator's controls (the customer's side)

    def customer(self, action: str, external_id: str) -> httpx.Response:
        return self.sandbox.post(f"/payments/{external_id}/{action}")

    def simulated_payment(self, external_id: str) -> dict[str, Any]:
        response = self.sandbox.get(f"/payments/{external_id}")
        response.raise_for_status()
        return response.json()
