"""A customer pays a Kaspi link payment on the hosted pay page, in a real (headless) Chromium: the QR
picture on the page decodes to the payment's link, and the page notices the payment and returns."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import zxingcpp
from PIL import Image

from config.settings import Settings

from tests.support.browser import in_browser, screenshot_path
from tests.support.gateways import RunningGateway, issue_key

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.postgres

SHOP = 121038


@pytest.fixture(scope="module")
def api(gateway: RunningGateway, settings: Settings) -> Iterator[httpx.Client]:
    key = issue_key(settings, ["payments"])
    with httpx.Client(base_url=gateway.base_url, headers=key.header, timeout=30) as client:
        yield client


def test_the_kaspi_page_shows_a_scannable_qr_and_returns_once_paid(
    api: httpx.Client, gateway: RunningGateway, chromium: str
) -> None:
    order = f"order-{uuid.uuid4().hex[:8]}"
    # The marketplace's return page; here any page of this server that answers a GET.
    return_url = f"{gateway.base_url}/health?order={order}"
    created = api.post("/v1/payments", json={
        "shop_id": SHOP, "provider": "kaspi", "method": "link", "amount": 1250000, "currency": "KZT",
        "description": "Bouquet of 25 roses", "order_id": order, "return_url": return_url,
    })
    assert created.status_code == 201, created.text
    payment = created.json()

    async def pay(page: Page) -> str:
        await page.goto(gateway.base_url + payment["pay_url"])
        await page.wait_for_load_state("load")  # images included
        assert await page.locator("#qr").evaluate("image => image.naturalWidth") > 0
        assert await page.locator("#open-kaspi").get_attribute("href") == payment["payment_link"]
        assert await page.locator("#status").inner_text() == "Waiting for payment"
        assert ":" in await page.locator("#countdown").inner_text()
        await page.screenshot(path=screenshot_path("kaspi-pay-page-waiting"), full_page=True)

        # The QR as the customer's camera sees it: rendered by the browser, decoded from the pixels.
        [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(await page.locator("#qr").screenshot())))
        assert decoded.text == payment["payment_link"]

        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as simulator:
            approved = await simulator.post(f"/sandbox/kaspi/payments/{payment['external_id']}/approve")
        assert approved.status_code == 200, approved.text

        # The page's CSP forbids eval, so wait on a selector rather than a JavaScript predicate.
        await page.locator("#status[data-final='true']").wait_for(timeout=45_000)
        assert await page.locator("#status").inner_text() == "Paid"
        assert await page.locator("#qr").is_hidden() and await page.locator("#open-kaspi").is_hidden()
        await page.screenshot(path=screenshot_path("kaspi-pay-page-paid"), full_page=True)

        await page.wait_for_url(lambda url: url.startswith(f"{gateway.base_url}/health"), timeout=30_000)
        return page.url

    returned = parse_qs(urlsplit(in_browser(chromium, pay)).query)
    assert returned == {"order": [order], "payment_id": [payment["id"]], "status": ["succeeded"]}
    assert api.get(f"/v1/payments/{payment['id']}").json()["status"] == "succeeded"
