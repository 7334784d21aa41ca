"""Where a YooKassa notification comes from decides whether it is looked at; even then only YooKassa's API decides."""

from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx
import pytest

from domain.capabilities import Capability
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.refund import Refund, RefundStatus
from domain.seller_route import Credentials, SellerRoute

from application.ports import ProviderPayment, ProviderRefund

from entrypoints.http.app import create_app
from entrypoints.http.client_address import client_address, parse_address, within

from config.container import Container
from config.settings import YOOKASSA_NETWORKS, Settings, SettingsError

from tests.fakes import FakeProvider, InMemoryDatabase
from tests.support.core import SETTINGS, InMemoryGateway

NOW = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)
YOOKASSA_V4 = "185.71.76.10"
YOOKASSA_V6 = "2a02:5180:0:1509::2"
STRANGER = "203.0.113.9"
PROXY = "10.0.0.5"
EXTERNAL_ID = "2d9c7e6b-000f-5000-9000-1b68e7b15f3f"


def nets(*items: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item) for item in items]


def source(peer: str | None, forwarded: Sequence[str] = (), trusted: Sequence[str] = ()) -> str | None:
    address = client_address(peer, forwarded, nets(*trusted))
    return str(address) if address is not None else None


# --- Who sent it ----------------------------------------------------------------------------------


def test_without_trusted_proxies_the_connecting_address_is_the_sender() -> None:
    assert source(YOOKASSA_V4) == YOOKASSA_V4


def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored() -> None:
    # Anyone can write X-Forwarded-For; only our own proxy's is believed.
    assert source(STRANGER, [YOOKASSA_V4]) == STRANGER
    assert source(STRANGER, [YOOKASSA_V4], trusted=["10.0.0.0/8"]) == STRANGER


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_sender() -> None:
    assert source(PROXY, [YOOKASSA_V4], trusted=["10.0.0.0/8"]) == YOOKASSA_V4


def test_an_address_the_client_wrote_left_of_the_real_one_is_not_believed() -> None:
    # The stranger sent `X-Forwarded-For: 185.71.76.10`; our proxy appended the stranger's address.
    assert source(PROXY, [f"{YOOKASSA_V4}, {STRANGER}"], trusted=["10.0.0.0/8"]) == STRANGER


def test_the_right_most_address_that_is_no_trusted_proxy_is_the_sender() -> None:
    chain = f"{STRANGER}, {YOOKASSA_V4}, 10.0.0.7"  # junk from the sender, the sender, an inner proxy
    assert source(PROXY, [chain], trusted=["10.0.0.0/8"]) == YOOKASSA_V4


def test_several_forwarded_for_headers_are_one_list_in_order() -> None:
    assert source(PROXY, [YOOKASSA_V4, STRANGER], trusted=["10.0.0.0/8"]) == STRANGER
    assert source(PROXY, [STRANGER, YOOKASSA_V4], trusted=["10.0.0.0/8"]) == YOOKASSA_V4


def test_a_trusted_proxy_without_a_forwarded_for_is_itself_the_sender() -> None:
    assert source(PROXY, [], trusted=["10.0.0.0/8"]) == PROXY


def test_when_every_hop_is_a_trusted_proxy_the_left_most_is_the_sender() -> None:
    assert source(PROXY, ["10.0.0.9, 10.0.0.8"], trusted=["10.0.0.0/8"]) == "10.0.0.9"


@pytest.mark.parametrize("garbage", ["not-an-ip", "", "185.71.76.10.1", "unknown", "185.71.76.10:port"])
def test_an_unreadable_hop_before_the_sender_makes_it_unknown(garbage: str) -> None:
    assert source(PROXY, [f"{YOOKASSA_V4}, {garbage}"], trusted=["10.0.0.0/8"]) is None


def test_ipv6_peers_and_proxies() -> None:
    assert source(YOOKASSA_V6) == YOOKASSA_V6
    assert source("::1", [YOOKASSA_V6], trusted=["::1/128"]) == YOOKASSA_V6
    assert source("::1", [f"[{YOOKASSA_V6}]:443"], trusted=["::1"]) == YOOKASSA_V6


@pytest.mark.parametrize(
    ("written", "address"),
    [
        ("::ffff:185.71.76.10", YOOKASSA_V4),  # how a dual-stack socket reports an IPv4 peer
        ("185.71.76.10:51234", YOOKASSA_V4),
        (f"[{YOOKASSA_V6}]", YOOKASSA_V6),
        ("fe80::1%eth0", "fe80::1"),
        (" 185.71.76.10 ", YOOKASSA_V4),
    ],
)
def test_addresses_are_read_as_proxies_write_them(written: str, address: str) -> None:
    assert str(parse_address(written)) == address


@pytest.mark.parametrize("written", ["[2a02:5180::1", "[2a02:5180::1]x", "1.2.3.4:", "300.1.1.1", "", "::ffff:999.1.1.1"])
def test_unreadable_addresses_are_none(written: str) -> None:
    assert parse_address(written) is None


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("77.75.153.0", True),
        ("77.75.153.127", True),
        ("77.75.153.128", False),
        ("77.75.156.11", True),
        ("77.75.156.12", False),
        ("77.75.156.35", True),
        ("77.75.154.128", True),
        ("77.75.154.127", False),
        ("185.71.76.31", True),
        ("185.71.76.32", False),
        ("185.71.77.0", True),
        ("2a02:5180::1", True),
        ("2a02:5180:ffff::1", True),
        ("2a02:5181::1", False),
        ("::ffff:77.75.153.1", True),
        ("127.0.0.1", False),
        ("::1", False),
    ],
)
def test_yookassas_published_networks(address: str, allowed: bool) -> None:
    parsed = parse_address(address)
    assert parsed is not None and within(parsed, YOOKASSA_NETWORKS) is allowed


def test_networks_and_proxies_are_configurable() -> None:
    settings = Settings.from_env({"YOOKASSA_WEBHOOK_NETWORKS": "127.0.0.1, ::1/128", "TRUSTED_PROXIES": "10.0.0.0/8"})
    assert settings.yookassa_webhook_networks == tuple(nets("127.0.0.1/32", "::1/128"))
    assert settings.trusted_proxies == tuple(nets("10.0.0.0/8"))
    assert Settings.from_env({}).yookassa_webhook_networks == YOOKASSA_NETWORKS
    assert Settings.from_env({}).trusted_proxies == ()


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "example.com", "10.0.0.0/33"])
def test_a_mistyped_network_stops_the_gateway_from_starting(bad: str) -> None:
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        Settings.from_env({"TRUSTED_PROXIES": bad})


# --- The endpoint ---------------------------------------------------------------------------------


@attrs.frozen
class Wiring:
    """The real container on the in-memory fakes, its YooKassa adapter a fake the tests answer for."""

    container: Container
    db: InMemoryDatabase
    provider: FakeProvider


def wiring(**settings: Any) -> Wiring:
    core = InMemoryGateway(now=NOW, settings=attrs.evolve(SETTINGS, **settings))
    provider = FakeProvider(
        "yookassa",
        capabilities=frozenset({Capability.REDIRECT_CHECKOUT, Capability.WEBHOOKS, Capability.REFUND_LOOKUP}),
        currencies=frozenset({"RUB"}),
        default_method=PaymentMethod.REDIRECT,
        credential_names=("secret_key",),
    )
    core.override(core.container.yookassa.adapter, provider)
    route = SellerRoute(
        shop_id=49237, provider="yookassa", merchant_account="100500",
        credentials=Credentials({"secret_key": "test_secret"}), is_active=True, created_at=NOW, updated_at=NOW,
    )
    core.db.routes[(route.shop_id, route.provider)] = route
    payment = Payment(
        id="pay_1", shop_id=49237, provider="yookassa", method=PaymentMethod.REDIRECT, amount=Money(59900, "RUB"),
        merchant_account="100500", description="roses", created_at=NOW, updated_at=NOW,
        provider_status="pending", external_id=EXTERNAL_ID,
    )
    core.db.payments[payment.id] = copy.deepcopy(payment)
    return Wiring(core.container, core.db, provider)


@pytest.fixture
def gateway() -> Wiring:
    return wiring()


async def post(
    gateway: Wiring, *, peer: str, forwarded: str | None = None, event: str = "payment.succeeded", body: bytes | None = None
) -> httpx.Response:
    app = create_app(gateway.container)
    notification = {"type": "notification", "event": event, "object": {"id": EXTERNAL_ID, "status": "succeeded"}}
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    transport = httpx.ASGITransport(app=app, client=(peer, 443))
    async with httpx.AsyncClient(transport=transport, base_url="http://paygate") as client:
        return await client.post(
            "/webhooks/yookassa", content=body if body is not None else json.dumps(notification), headers=headers
        )


def paid() -> ProviderPayment:
    return ProviderPayment(external_id=EXTERNAL_ID, provider_status="succeeded", outcome=PaymentStatus.SUCCEEDED)


@pytest.mark.anyio
@pytest.mark.parametrize("peer", [YOOKASSA_V4, YOOKASSA_V6, "::ffff:77.75.156.35"])
async def test_a_notification_from_yookassa_is_re_fetched_then_applied(gateway: Wiring, peer: str) -> None:
    gateway.provider.will_fetch(paid())

    answer = await post(gateway, peer=peer)

    assert (answer.status_code, answer.json()) == (200, {"success": True, "result": "applied"})
    assert [external_id for _route, external_id in gateway.provider.fetch_requests] == [EXTERNAL_ID]
    assert gateway.db.payment("pay_1").status is PaymentStatus.SUCCEEDED


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("peer", "forwarded"),
    [
        (STRANGER, None),
        (STRANGER, YOOKASSA_V4),  # spoofed: the stranger is not a proxy of ours
        ("127.0.0.1", YOOKASSA_V4),  # not even from this host, unless it is configured as a proxy
        (PROXY, f"{YOOKASSA_V4}, {STRANGER}"),  # with a proxy configured below: the stranger's own line
    ],
)
async def test_a_notification_from_anywhere_else_is_refused_and_changes_nothing(peer: str, forwarded: str | None) -> None:
    gateway = wiring(trusted_proxies=tuple(nets("10.0.0.0/8")))

    answer = await post(gateway, peer=peer, forwarded=forwarded)

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "webhook_source_not_allowed"
    assert gateway.provider.fetch_requests == []
    assert gateway.db.payment("pay_1").status is PaymentStatus.PENDING


@pytest.mark.anyio
async def test_through_a_trusted_proxy_yookassas_forwarded_address_is_accepted() -> None:
    gateway = wiring(trusted_proxies=tuple(nets("127.0.0.1/32")))
    gateway.provider.will_fetch(paid())

    answer = await post(gateway, peer="127.0.0.1", forwarded=YOOKASSA_V4)

    assert answer.status_code == 200
    assert gateway.db.payment("pay_1").status is PaymentStatus.SUCCEEDED


@pytest.mark.anyio
async def test_a_false_claim_of_success_changes_nothing_when_yookassa_says_pending(gateway: Wiring) -> None:
    gateway.provider.will_fetch(
        ProviderPayment(external_id=EXTERNAL_ID, provider_status="pending", outcome=PaymentStatus.PENDING)
    )

    answer = await post(gateway, peer=YOOKASSA_V4, event="payment.succeeded")

    assert answer.status_code == 200
    assert gateway.db.payment("pay_1").status is PaymentStatus.PENDING


@pytest.mark.anyio
@pytest.mark.parametrize("body", [b"{", b"[]", b'{"type": "notification", "event": "payment.succeeded", "object": {}}'])
async def test_a_body_that_is_no_notification_is_refused_with_400(gateway: Wiring, body: bytes) -> None:
    answer = await post(gateway, peer=YOOKASSA_V4, body=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_notification"
    assert gateway.provider.fetch_requests == []


@pytest.mark.anyio
async def test_a_notification_about_a_refund_not_ours_is_acknowledged_and_changes_nothing(gateway: Wiring) -> None:
    answer = await post(gateway, peer=YOOKASSA_V4, event="refund.succeeded")
    assert (answer.status_code, answer.json()["result"]) == (200, "unknown_refund")
    assert gateway.provider.fetch_requests == [] and gateway.provider.refund_lookups == []


@pytest.mark.anyio
async def test_a_refund_notification_is_re_fetched_from_yookassa_before_the_refund_settles(gateway: Wiring) -> None:
    payment = gateway.db.payment("pay_1")
    payment.status, payment.refund_reserved = PaymentStatus.SUCCEEDED, Money(10000, "RUB")
    gateway.db.payments[payment.id] = payment
    refund = Refund(
        id="re_1", payment_id=payment.id, shop_id=payment.shop_id, amount=Money(10000, "RUB"),
        created_at=NOW, updated_at=NOW, external_id=EXTERNAL_ID,
    )
    gateway.db.refunds[refund.id] = refund
    gateway.provider.will_fetch_refund(ProviderRefund(EXTERNAL_ID, status=RefundStatus.SUCCEEDED))

    answer = await post(gateway, peer=YOOKASSA_V4, event="refund.succeeded")

    assert (answer.status_code, answer.json()["result"]) == (200, "applied")
    [lookup] = gateway.provider.refund_lookups
    assert lookup.external_id == EXTERNAL_ID
    settled = gateway.db.refunds["re_1"]
    assert (settled.status, settled.status_source) == (RefundStatus.SUCCEEDED, "webhook:yookassa")
    assert gateway.db.payment("pay_1").refunded == Money(10000, "RUB")


@pytest.mark.anyio
async def test_without_yookassa_configured_there_is_no_endpoint() -> None:
    gateway = wiring(yookassa_api_url=None)
    answer = await post(gateway, peer=YOOKASSA_V4)
    assert answer.status_code == 404
    assert gateway.provider.fetch_requests == []



@pytest.mark.anyio
async def test_a_cancellation_keeps_yookassas_reason(gateway: Wiring) -> None:
    gateway.provider.will_fetch(
        ProviderPayment(
            external_id=EXTERNAL_ID, provider_status="canceled", outcome=PaymentStatus.CANCELLED,
            failure_reason="canceled: insufficient_funds (payment_network)",
        )
    )

    answer = await post(gateway, peer=YOOKASSA_V4, event="payment.canceled")

    assert answer.status_code == 200
    stored = gateway.db.payment("pay_1")
    assert (stored.status, stored.error_code) == (PaymentStatus.CANCELLED, "canceled")
    assert stored.error_message == "canceled: insufficient_funds (payment_network)"
