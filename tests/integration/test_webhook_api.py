"""The webhook admin API through the real app: subscriptions, the secret shown once, deliveries, redelivery.

Every answer is checked against the OpenAPI document's schema for it.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import jsonschema_rs
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.events import EventType

from entrypoints.http.openapi import build_openapi

from config.container import Container
from config.settings import Settings

from tests.support.gateways import (
    RunningGateway,
    gateway_settings,
    issue_key,
    prepare,
    with_container,
)
from tests.support.servers import serve

DOCUMENT = build_openapi()
SHOP = 121038


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = gateway_settings(
        f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('webhooks') / 'paygate.db'}",
        # The test's CRM listens on 127.0.0.1 over http: allowed explicitly, as the demo allows it.
        webhook_allow_http=True,
        webhook_allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),),
    )
    prepare(settings)
    return settings


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


def subscribed_and_billed(api: httpx.Client, url: str) -> tuple[httpx.Response, httpx.Response]:
    """A subscription to `payment.created` at `url`, then a Kaspi bill: one event for it."""
    subscribed = api.post("/admin/webhooks", json={"url": url, "event_types": ["payment.created"]})
    subscribed.raise_for_status()
    bill = api.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 5000, "phone": "77015211545"})
    assert bill.status_code == 200, bill.text
    return subscribed, bill


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
    assert sorted(created["webhook"]["event_types"]) == sorted(t.value for t in EventType)
    assert created["webhook"]["description"] == "CRM"
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


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:5432/",  # only 127.0.0.0/8 is allowed here
        "http://0.0.0.0:8015/",
        "http://[::ffff:10.0.0.1]/",
        "https://192.168.0.1/hook",
    ],
)
def test_an_internal_target_is_refused_at_registration(api: httpx.Client, url: str) -> None:
    before = active_ids(api)
    refused(api.post("/admin/webhooks", json={"url": url}), 422, "webhook_target_not_allowed", "url")
    assert active_ids(api) == before


def test_a_delivery_the_rules_now_block_is_kept_blocked_until_an_operator_redelivers_it(
    api: httpx.Client, settings: Settings, crm: tuple[list[dict[str, Any]], str]
) -> None:
    received, url = crm
    subscribed, bill = subscribed_and_billed(api, url)
    # An upgrade, or an operator, took loopback off WEBHOOK_ALLOWED_NETWORKS meanwhile.
    stricter = attrs.evolve(settings, webhook_allowed_networks=())

    summary = dispatch(stricter)
    again = dispatch(stricter)

    assert (summary["blocked"], summary["delivered"], summary["retrying"], again["blocked"]) == (1, 0, 0, 0)
    assert received == []
    listed = conforms(
        api.get("/admin/webhooks/deliveries", params={"status": "blocked", "webhook_id": subscribed.json()["webhook"]["id"]}),
        "/admin/webhooks/deliveries", "get", 200,
    )
    [delivery] = listed["deliveries"]
    assert (delivery["status"], delivery["next_attempt_at"], delivery["last_status_code"]) == ("blocked", None, None)
    assert delivery["last_error"] == "blocked: 127.0.0.1 is a loopback address, outside WEBHOOK_ALLOWED_NETWORKS"

    api.post(f"/admin/webhooks/deliveries/{delivery['id']}/redeliver").raise_for_status()
    assert dispatch(settings)["delivered"] == 1  # allowed again
    assert len(received) == 1
    api.delete(f"/admin/webhooks/{subscribed.json()['webhook']['id']}").raise_for_status()


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
    subscribed, bill = subscribed_and_billed(api, url)

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


def test_the_words_of_the_dispatchers_summary_filter_the_deliveries(api: httpx.Client, settings: Settings) -> None:
    async def hook(_request: Request) -> Response:
        return Response(status_code=500)

    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base_url:
        subscribed = api.post("/admin/webhooks", json={"url": f"{base_url}/hook", "event_types": ["payment.created"]})
        webhook_id = subscribed.json()["webhook"]["id"]
        bill = api.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 5000, "phone": "77015211545"})
        assert bill.status_code == 200, bill.text
        summary = dispatch(settings)

    assert summary["retrying"] == 1
    listed = {
        word: conforms(
            api.get("/admin/webhooks/deliveries", params={"webhook_id": webhook_id, "status": word}),
            "/admin/webhooks/deliveries", "get", 200,
        )["deliveries"]
        for word in ("delivered", "retrying", "dead")  # every delivery word the summary prints
    }
    [retrying] = listed["retrying"]
    assert (retrying["status"], retrying["attempts"], retrying["last_status_code"]) == ("pending", 1, 500)
    assert listed["delivered"] == listed["dead"] == []
    api.delete(f"/admin/webhooks/{webhook_id}").raise_for_status()


def test_unknown_or_malformed_deliveries_are_refused(api: httpx.Client) -> None:
    refused(api.post("/admin/webhooks/deliveries/whd_missing/redeliver"), 404, "delivery_not_found")
    refused(api.post("/admin/webhooks/deliveries/bad%20id/redeliver"), 422, "invalid_value", "delivery_id")
    refused(api.get("/admin/webhooks/deliveries", params={"limit": "0"}), 422, "invalid_value", "limit")
    refused(api.get("/admin/webhooks/deliveries", params={"status": "lost"}), 422, "invalid_value", "status")
    refused(api.get("/admin/webhooks/deliveries", params={"event_id": "evt;drop"}), 422, "invalid_value", "event_id")
