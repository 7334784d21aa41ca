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

    # Payments through the provider-neutral API (/v1); amounts in minor units

    def create_v1_payment(self, idempotency_key: str | None = None, **body: Any) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.http.post("/v1/payments", json=body, headers=headers)

    def v1_payment(self, payment_id: str) -> httpx.Response:
        return self.http.get(f"/v1/payments/{payment_id}")

    def v1_payments_for_order(self, order_id: str) -> httpx.Response:
        return self.http.get("/v1/payments", params={"order_id": order_id})

    def v1_payments_for_customer(
        self, customer_id: str, *, cursor: str | None = None, limit: int | None = None
    ) -> httpx.Response:
        params: dict[str, Any] = {"customer_id": customer_id}
        if cursor is not None:
            params["cursor"] = cursor
        if limit is not None:
            params["limit"] = limit
        return self.http.get("/v1/payments", params=params)

    def v1_refund(self, payment_id: str, amount: int | None = None, idempotency_key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {} if amount is None else {"amount": amount}
        return self.http.post(f"/v1/payments/{payment_id}/refunds", json=body, headers=headers)

    def v1_capture(self, payment_id: str) -> httpx.Response:
        return self.http.post(f"/v1/payments/{payment_id}/capture", json={})

    def v1_cancel(self, payment_id: str) -> httpx.Response:
        return self.http.post(f"/v1/payments/{payment_id}/cancel", json={})

    # Routes of any provider (credentials are write-only)

    def add_route(self, **body: Any) -> httpx.Response:
        return self.http.post("/admin/routes", json=body)

    def route(self, shop_id: int, provider: str) -> httpx.Response:
        return self.http.get(f"/admin/routes/{shop_id}/{provider}")

    def routes(self, **params: Any) -> httpx.Response:
        return self.http.get("/admin/routes", params=params)

    def update_route(self, shop_id: int, provider: str, **changes: Any) -> httpx.Response:
        return self.http.put(f"/admin/routes/{shop_id}/{provider}", json=changes)

    def deactivate_route(self, shop_id: int, provider: str) -> httpx.Response:
        return self.http.delete(f"/admin/routes/{shop_id}/{provider}")

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

    # Outgoing webhooks (the marketplace's CRM)

    def subscribe_webhook(self, url: str, event_types: list[str] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"url": url} if event_types is None else {"url": url, "event_types": event_types}
        return self.http.post("/admin/webhooks", json=body)

    def webhook_deliveries(self, **params: Any) -> httpx.Response:
        return self.http.get("/admin/webhooks/deliveries", params=params)

    def redeliver(self, delivery_id: str) -> httpx.Response:
        return self.http.post(f"/admin/webhooks/deliveries/{delivery_id}/redeliver")

    # The Kaspi simulator's controls (the customer's side)

    def customer(self, action: str, external_id: str) -> httpx.Response:
        return self.sandbox.post(f"/payments/{external_id}/{action}")

    def simulated_payment(self, external_id: str) -> dict[str, Any]:
        response = self.sandbox.get(f"/payments/{external_id}")
        response.raise_for_status()
        payment: dict[str, Any] = response.json()
        return payment
