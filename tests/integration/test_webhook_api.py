"""The webhook admin API through the real app: subscriptions, the secret shown once, deliveries, redelivery.

Every answer is checked against the OpenAPI document's schema for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.container import Container
from config.settings import Settings
from entrypoints.http.openapi import build_openapi
from tests.support.gateways import (
    RunningGateway,
    gateway_settings,
    issue_key,
    prepare,
    running_gateway,
    with_container,
)
from tests.support.servers import serve

DOCUMENT = build_openapi()
SHOP = 121038


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = gateway_settings(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('webhooks') / 'paygate.db'}")
    prepare(settings)
    return settings


@pytest.fixture(scope="module")
def gateway(settings: Settings) -> Iterator[RunningGateway]:
    with running_gateway(settings) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def api(gateway: RunningGateway, settings: Settings) -> Iterator[httpx.Client]:
    key = issue_key(settings, ["payments", "admin"])
    with httpx.Client(base_url=gateway.base_url, headers=key.header, timeout=30) as client:
        yield client


def active_ids(api: httpx.Client) -> list[str]:
    return [w["id"] for w in api.get("/admin/webhooks").json()["webhooks"]]


@pytest.fixture
def crm() -> Iterator[tuple[list[dict[str, Any]], str]]:
    """The marketplace's receiver: records the event ids and signatures it gets."""
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    async def hook(request: Request) -> Response:
        body = await request.json()
        with lock:
            received.append({"event": body, "signature": request.headers["paygate-signature"]})
        return Response(status_code=200)

    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base_url:
        yield received, f"{base_url}/hook"


def conforms(response: httpx.Response, path: str, method: str, status: int) -> Any:
    assert response.status_code == status, response.text
    documented = DOCUMENT["paths"][path][method]["responses"][str(status)]
    schema = documented["content"]["application/json"]["schema"]
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": DOCUMENT["components"]})
    body = response.json()
    errors = [error.message for error in validator.iter_errors(body)]
    assert not errors, f"{method.upper()} {path} {status} does not match the document: {errors}"
    return body


def refused(response: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error


def dispatch(settings: Settings) -> dict[str, int]:
    async def run(container: Container) -> dict[str, int]:
        return (await container.dispatch_events().run_once()).as_dict()

    return with_container(settings, run)


def test_a_subscription_shows_its_secret_once_and_can_be_removed(api: httpx.Client) -> None:
    created = conforms(
        api.post("/admin/webhooks", json={"url": "https://crm.example/paygate", "event_types": ["payment.succeeded"]}),
        "/admin/webhooks", "post", 201,
    )
    webhook, secret = created["webhook"], created["secret"]
    assert secret.startswith("whsec_") and webhook["event_types"] == ["payment.succeeded"]

    listed = conforms(api.get("/admin/webhooks"), "/admin/webhooks", "get", 200)
    assert webhook["id"] in [w["id"] for w in listed["webhooks"]]
    assert secret not in api.get("/admin/webhooks").text

    removed = conforms(api.delete(f"/admin/webhooks/{webhook['id']}"), "/admin/webhooks/{webhook_id}", "delete", 200)
    assert removed["webhook"]["is_active"] is False
    assert webhook["id"] not in active_ids(api)
    refused(api.delete(f"/admin/webhooks/{webhook['id']}"), 404, "webhook_not_found")


def test_every_event_type_by_default(api: httpx.Client) -> None:
    created = api.post("/admin/webhooks", json={"url": "http://127.0.0.1:9/hook", "description": "CRM"}).json()
    assert len(created["webhook"]["event_types"]) == 8 and created["webhook"]["description"] == "CRM"
    api.delete(f"/admin/webhooks/{created['webhook']['id']}").raise_for_status()  # nobody listens there


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"url": "ftp://crm.example/x"}, "invalid_value", "url"),
        ({"url": "https://user:pw@crm.example/x"}, "invalid_value", "url"),
        ({}, "missing_field", "url"),
        ({"url": 5}, "invalid_type", "url"),
        ({"url": "https://crm.example/x", "event_types": "payment.succeeded"}, "invalid_type", "event_types"),
        ({"url": "https://crm.example/x", "event_types": ["payment.teleported"]}, "invalid_value", "event_types"),
        ({"url": "https://crm.example/x", "event_types": []}, "invalid_value", "event_types"),
        ({"url": "https://crm.example/x", "secret": "mine"}, "unknown_field", "secret"),
    ],
)
def test_a_bad_subscription_is_refused_naming_the_field(
    api: httpx.Client, body: dict[str, Any], code: str, field: str
) -> None:
    before = active_ids(api)
    refused(api.post("/admin/webhooks", json=body), 422, code, field)
    assert active_ids(api) == before


def test_only_an_admin_key_for_every_shop_manages_webhooks(gateway: RunningGateway, settings: Settings) -> None:
    for key in (issue_key(settings, ["payments"]), issue_key(settings, ["admin"], shops=[SHOP])):
        with httpx.Client(base_url=gateway.base_url, headers=key.header) as client:
            refused(client.get("/admin/webhooks"), 403, "forbidden")
            refused(client.post("/admin/webhooks", json={"url": "https://crm.example/x"}), 403, "forbidden")
    refused(httpx.get(f"{gateway.base_url}/admin/webhooks"), 401, "unauthorized")


def test_deliveries_show_every_attempt_and_an_operator_can_redeliver(
    api: httpx.Client, settings: Settings, crm: tuple[list[dict[str, Any]], str]
) -> None:
    received, url = crm
    subscribed = api.post("/admin/webhooks", json={"url": url, "event_types": ["payment.created"]})
    subscribed.raise_for_status()
    bill = api.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 5000, "phone": "77015211545"})
    assert bill.status_code == 200, bill.text

    assert dispatch(settings)["delivered"] == 1
    [first] = received
    event_id = first["event"]["id"]
    assert (first["event"]["type"], first["event"]["data"]["payment"]["external_id"]) == (
        "payment.created", bill.json()["external_id"],
    )
    listed = conforms(
        api.get("/admin/webhooks/deliveries", params={"event_id": event_id}), "/admin/webhooks/deliveries", "get", 200
    )
    [delivery] = listed["deliveries"]
    assert (delivery["status"], delivery["attempts"], len(delivery["attempt_log"])) == ("delivered", 1, 1)

    requeued = conforms(
        api.post(f"/admin/webhooks/deliveries/{delivery['id']}/redeliver"),
        "/admin/webhooks/deliveries/{delivery_id}/redeliver", "post", 200,
    )
    assert requeued["delivery"]["status"] == "pending"
    assert dispatch(settings)["delivered"] == 1

    assert [r["event"]["id"] for r in received] == [event_id, event_id]  # the same event, the same id
    [after] = api.get("/admin/webhooks/deliveries", params={"event_id": event_id}).json()["deliveries"]
    assert [a["succeeded"] for a in after["attempt_log"]] == [True, True]
    logs = api.get("/admin/logs", params={"limit": 5}).json()
    assert "webhook_redeliver" in [entry["operation_type"] for entry in logs]
    api.delete(f"/admin/webhooks/{subscribed.json()['webhook']['id']}").raise_for_status()


def test_unknown_or_malformed_deliveries_are_refused(api: httpx.Client) -> None:
    refused(api.post("/admin/webhooks/deliveries/whd_missing/redeliver"), 404, "delivery_not_found")
    refused(api.post("/admin/webhooks/deliveries/bad%20id/redeliver"), 422, "invalid_value", "delivery_id")
    refused(api.get("/admin/webhooks/deliveries", params={"limit": "0"}), 422, "invalid_value", "limit")
    refused(api.get("/admin/webhooks/deliveries", params={"status": "lost"}), 422, "invalid_value", "status")
    refused(api.get("/admin/webhooks/deliveries", params={"event_id": "evt;drop"}), 422, "invalid_value", "event_id")
