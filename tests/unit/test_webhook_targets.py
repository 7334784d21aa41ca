"""Webhook targets: https to public addresses only, odd spellings and DNS names included, unless allowed."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from domain.webhook_targets import WebhookTargetRefused, WebhookTargetRules, literal_address

from application.webhook_targets import WebhookTargets

from tests.fakes.notifications import StaticHostResolver
from tests.support.core import InMemoryGateway

pytestmark = pytest.mark.anyio

PUBLIC = "93.184.215.14"
LOOPBACK = ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")


def targets(dns: dict[str, list[str]] | None = None, **rules: Any) -> WebhookTargets:
    return WebhookTargets(rules=WebhookTargetRules(**rules), resolver=StaticHostResolver(dns))


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://0x7f000001/hook", "loopback"),
        ("https://2130706433/hook", "loopback"),
        ("https://0177.0.0.1/hook", "loopback"),
        ("https://127.1:5432/", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[::ffff:7f00:1]/hook", "loopback"),
        ("https://[64:ff9b::a00:5]/hook", "private"),  # NAT64 of 10.0.0.5
        ("https://[2002:a9fe:a9fe::]/hook", "link-local"),  # 6to4 of 169.254.169.254
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.1.2.3/hook", "private"),
        ("https://172.16.0.1/hook", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("https://100.64.0.1/hook", "non-public"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://[::]/hook", "unspecified"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://[ff02::1]/hook", "multicast"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://[fd00::1]/hook", "private"),
        ("https://240.0.0.1/hook", "reserved"),
    ],
)
async def test_an_address_that_is_not_public_is_refused_however_it_is_spelt(url: str, kind: str) -> None:
    with pytest.raises(WebhookTargetRefused) as refused:
        await targets().check(url)

    assert refused.value.field == "url"
    assert refused.value.code == "webhook_target_not_allowed"
    assert f"a {kind} address" in refused.value.reason


@pytest.mark.parametrize(
    ("dns", "url"),
    [
        ({"localhost": ["127.0.0.1", "::1"]}, "https://localhost:5432/"),
        ({"crm.example": ["10.0.0.7"]}, "https://crm.example/hook"),
        # One bad address among good ones is enough: the connection could go to any of them.
        ({"crm.example": [PUBLIC, "192.168.0.10"]}, "https://crm.example/hook"),
        ({"metadata.internal": ["169.254.169.254"]}, "https://metadata.internal/"),
        ({"crm.example": ["::ffff:10.0.0.1"]}, "https://crm.example/hook"),
    ],
)
async def test_a_name_resolving_to_any_internal_address_is_refused_without_saying_which(
    dns: dict[str, list[str]], url: str
) -> None:
    with pytest.raises(WebhookTargetRefused) as refused:
        await targets(dns).check(url)

    assert "resolves to a" in refused.value.reason
    assert not any(address in refused.value.reason for addresses in dns.values() for address in addresses)


async def test_a_public_target_is_allowed_and_its_checked_addresses_are_what_to_connect_to() -> None:
    checked = await targets({"crm.example": [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]}).check(
        "https://crm.example/hook?token=x"
    )

    assert [str(a) for a in checked] == [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]


async def test_http_needs_to_be_allowed() -> None:
    with pytest.raises(WebhookTargetRefused, match="WEBHOOK_ALLOW_HTTP"):
        await targets({"crm.example": [PUBLIC]}).check("http://crm.example/hook")

    assert await targets({"crm.example": [PUBLIC]}, allow_http=True).check("http://crm.example/hook")


async def test_allowed_networks_let_internal_receivers_through_and_nothing_else() -> None:
    allowing = targets({"crm.internal": ["10.0.0.7"], "db.internal": ["10.9.0.1"]}, allowed_networks=(
        ipaddress.ip_network("10.0.0.0/24"), *LOOPBACK,
    ))

    assert [str(a) for a in await allowing.check("https://crm.internal/hook")] == ["10.0.0.7"]
    assert [str(a) for a in await allowing.check("https://[::ffff:127.0.0.1]:8080/")] == ["127.0.0.1"]
    assert [str(a) for a in await allowing.check("https://[::1]:8080/")] == ["::1"]
    with pytest.raises(WebhookTargetRefused):
        await allowing.check("https://db.internal/")
    with pytest.raises(WebhookTargetRefused):
        await allowing.check("https://169.254.169.254/")


@pytest.mark.parametrize("host", ["crm.example", "0x10.example", "1e100.net", "example.123", ""])
def test_names_are_not_read_as_addresses(host: str) -> None:
    assert literal_address(host) is None


async def test_registration_refuses_an_internal_target_and_stores_nothing(gateway: InMemoryGateway) -> None:
    gateway.dns.answers["crm.example"] = ["10.0.0.7"]

    with pytest.raises(WebhookTargetRefused) as refused:
        await gateway.webhooks.add(url="https://crm.example/hook")

    assert refused.value.field == "url"
    assert gateway.db.subscriptions == {}


async def test_registration_accepts_a_name_that_does_not_resolve_yet(gateway: InMemoryGateway) -> None:
    subscription, _ = await gateway.webhooks.add(url="https://crm-to-be.example/hook")

    assert subscription.url == "https://crm-to-be.example/hook"
    assert gateway.dns.asked == ["crm-to-be.example"]


async def test_subscriptions_the_rules_now_refuse_are_found(gateway: InMemoryGateway) -> None:
    gateway.dns.answers.update({"crm.example": [PUBLIC], "bi.example": [PUBLIC]})
    kept, _ = await gateway.webhooks.add(url="https://crm.example/hook")
    moved, _ = await gateway.webhooks.add(url="https://bi.example/hook")
    await gateway.webhooks.add(url="https://gone.example/hook")
    gateway.dns.answers["bi.example"] = ["10.0.0.9"]  # its DNS now points inside

    refused = await gateway.webhooks.refused_targets()

    assert [(r.subscription.id, r.reason) for r in refused] == [
        (moved.id, "bi.example resolves to a private address, outside WEBHOOK_ALLOWED_NETWORKS")
    ]
    assert kept.id not in [r.subscription.id for r in refused]
