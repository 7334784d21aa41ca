"""A customer pays a Stripe payment on the hosted pay page in a real (headless) Chromium, against the
Stripe simulator and its Stripe.js stand-in: the wallet button, a 3-D Secure card, a declined card
and then a good one. Each payment ends `succeeded` through the simulator's signed webhook."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from config.settings import Settings

from tests.support.browser import in_browser, screenshot_path
from tests.support.gateways import (
    RunningGateway,
    every_provider_on,
    gateway_settings,
    issue_key,
    prepare,
)

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def settings(postgres_url: str) -> Settings:
    settings = every_provider_on(gateway_settings(postgres_url))
    prepare(settings)
    return settings


@pytest.fixture(scope="module")
def api(gateway: RunningGateway, settings: Settings) -> Iterator[httpx.Client]:
    key = issue_key(settings, ["payments", "admin"])
    with httpx.Client(base_url=gateway.base_url, headers=key.header, timeout=30) as client:
        yield client


def stripe_payment(api: httpx.Client, gateway: RunningGateway, method: str) -> dict[str, Any]:
    shop = 900_000_000 + uuid.uuid4().int % 100_000_000
    account = f"acct_{uuid.uuid4().hex[:16]}"
    assert api.post("/admin/routes", json={"shop_id": shop, "provider": "stripe", "merchant_account": account}).status_code == 201
    created = api.post("/v1/payments", json={
        "shop_id": shop, "provider": "stripe", "method": method, "amount": 4900, "currency": "USD",
        "description": "Tulips", "return_url": f"{gateway.base_url}/health?shop={shop}",
    })
    assert created.status_code == 201, created.text
    payment: dict[str, Any] = created.json()
    assert payment["pay_url"]
    return payment


def paid_through_the_webhook(api: httpx.Client, payment: dict[str, Any]) -> bool:
    seen = api.get(f"/v1/payments/{payment['id']}").json()
    return (seen["status"], seen["status_source"]) == ("succeeded", "webhook:stripe")


async def returned(page: Page, gateway: RunningGateway) -> str:
    await page.locator("#status[data-final='true']").wait_for(timeout=45_000)
    await page.wait_for_url(lambda url: url.startswith(f"{gateway.base_url}/health"), timeout=30_000)
    return page.url


def test_the_wallet_button_pays(api: httpx.Client, gateway: RunningGateway, chromium: str) -> None:
    payment = stripe_payment(api, gateway, "apple_pay")

    async def pay(page: Page) -> str:
        await page.goto(gateway.base_url + payment["pay_url"])
        button = page.locator("[data-stripe-standin='wallet-button']")
        await button.wait_for()
        await page.screenshot(path=screenshot_path("stripe-pay-page"), full_page=True)
        await button.click()
        await page.locator("#status[data-final='true']").wait_for(timeout=45_000)
        await page.screenshot(path=screenshot_path("stripe-pay-page-paid"), full_page=True)
        return await returned(page, gateway)

    assert "status=succeeded" in in_browser(chromium, pay)
    assert paid_through_the_webhook(api, payment)
    # The wallet the Charge names, recorded with the webhook's settle.
    assert api.get(f"/v1/payments/{payment['id']}").json()["wallet"] == "apple_pay"


def test_a_card_with_three_d_secure_pays_after_the_challenge(
    api: httpx.Client, gateway: RunningGateway, chromium: str
) -> None:
    payment = stripe_payment(api, gateway, "card")

    async def pay(page: Page) -> str:
        await page.goto(gateway.base_url + payment["pay_url"])
        await page.locator("[data-stripe-standin='card-number']").fill("4000 0027 6000 3184")
        await page.locator("#pay-by-card").click()
        await page.locator("#complete").wait_for(timeout=30_000)  # the bank's (simulated) challenge
        await page.screenshot(path=screenshot_path("stripe-3ds-challenge"), full_page=True)
        await page.locator("#complete").click()
        return await returned(page, gateway)

    assert "status=succeeded" in in_browser(chromium, pay)
    assert paid_through_the_webhook(api, payment)


def test_a_declined_card_then_a_good_one(api: httpx.Client, gateway: RunningGateway, chromium: str) -> None:
    payment = stripe_payment(api, gateway, "card")

    async def pay(page: Page) -> str:
        await page.goto(gateway.base_url + payment["pay_url"])
        card = page.locator("[data-stripe-standin='card-number']")
        await card.fill("4000 0000 0000 0002")
        await page.locator("#pay-by-card").click()
        await page.locator("#stripe-error:has-text('declined')").wait_for(timeout=30_000)
        await page.screenshot(path=screenshot_path("stripe-declined"), full_page=True)
        await card.fill("4242 4242 4242 4242")
        await page.locator("#pay-by-card").click()
        return await returned(page, gateway)

    assert "status=succeeded" in in_browser(chromium, pay)
    assert paid_through_the_webhook(api, payment)
    paid = api.get(f"/v1/payments/{payment['id']}").json()
    assert (paid["error"], paid["wallet"]) == (None, None)  # the decline noted meanwhile is cleared; a plain card
