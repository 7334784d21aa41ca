"""The operator console in a real browser: Debian's Chromium, headless, driven by Playwright.

Each page is photographed into var/screenshots/ for review. Without /usr/bin/chromium the tests
skip with the reason (fail under CI=true, see tests/support/tools.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.container import Container
from config.settings import Settings

from tests.support.gateways import (
    IssuedKey,
    RunningGateway,
    gateway_settings,
    issue_key,
    prepare,
    with_container,
)
from tests.support.servers import serve
from tests.support.tools import tool_missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
SANDBOX_SECRET = "sk_sandbox_browser_41a7"


@pytest.fixture(scope="module")
def browser(world: dict[str, Any]) -> Iterator[Any]:
    """Started after the world is set up: Playwright's sync API keeps an event loop running, and the
    set-up's own `asyncio.run` calls cannot start beside it."""
    if not CHROMIUM.exists():
        tool_missing(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        tool_missing("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def crm() -> Iterator[str]:
    async def hook(_request: Request) -> Response:
        return Response(status_code=200)

    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base_url:
        yield f"{base_url}/hook"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = gateway_settings(
        f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('console') / 'paygate.db'}",
        sandbox_enabled=True, console_secure_cookie=False, webhook_allow_http=True,
        webhook_allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),),
    )
    prepare(settings)
    return settings


@pytest.fixture(scope="module")
def admin(settings: Settings) -> IssuedKey:
    return issue_key(settings, ["payments", "admin"])


@pytest.fixture(scope="module")
def world(gateway: RunningGateway, settings: Settings, admin: IssuedKey, crm: str) -> dict[str, Any]:
    """Two sandbox sellers with a few payments, a webhook subscription and its deliveries."""
    with httpx.Client(base_url=gateway.base_url, headers=admin.header, timeout=30) as api:
        assert api.post("/admin/webhooks", json={"url": crm, "event_types": ["payment.succeeded"]}).status_code == 201
        shops = [700_100_001, 700_100_002]
        for shop in shops:
            answer = api.post("/admin/routes", json={
                "shop_id": shop, "provider": "sandbox", "merchant_account": f"sbx-{shop}",
                "credentials": {"secret_key": SANDBOX_SECRET}, "is_default": True,
            })
            assert answer.status_code == 201, answer.text
        payments = []
        for n, (shop, amount) in enumerate([(shops[0], 1_250_000), (shops[0], 480_000), (shops[1], 2_000_000), (shops[0], 99_900)]):
            body = {
                "shop_id": shop, "amount": amount, "currency": "KZT", "method": "card",
                "order_id": f"order-{1001 + n}", "customer_id": f"cust-{n % 2}", "description": "Roses, 25 stems",
            }
            answer = api.post("/v1/payments", json=body)
            assert answer.status_code == 201, answer.text
            payments.append(answer.json())

    async def dispatch(container: Container) -> None:
        await container.dispatch_events().run_once()

    with_container(settings, dispatch)
    seller = issue_key(settings, ["payments"], shops=[shops[0]])
    return {"shops": shops, "payments": payments, "seller": seller}


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _signed_in(browser: Any, base_url: str, key: str) -> Any:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/console/sign-in")
    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    return page


def test_sign_in_find_by_order_and_refund_part_watching_the_timeline_grow(
    browser: Any, gateway: RunningGateway, admin: IssuedKey, world: dict[str, Any]
) -> None:
    context = browser.new_context(base_url=gateway.base_url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/console/")
    assert page.url.endswith("/console/sign-in")
    _shot(page, "sign-in")
    page.fill("input[name=api_key]", admin.plaintext)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    assert page.locator("svg.chart").count() == 2
    _shot(page, "overview")

    page.click("text=Payments")
    page.fill("input[name=q]", "order-1002")
    page.click("form.filters button[type=submit]")
    rows = page.locator("table.list tbody tr")
    assert rows.count() == 1
    _shot(page, "payments")
    rows.first.locator("a").click()
    before = page.locator("#timeline > li").count()
    page.fill("#refund-form input[name=amount]", "1500.00")
    page.fill("#refund-form input[name=reason]", "two stems were broken")
    page.click("#refund-form button[type=submit]")
    page.wait_for_selector(".notice")
    assert page.locator("#timeline > li").count() > before
    assert page.locator("#timeline").get_by_text("two stems were broken").count() == 1
    assert "1\u202f500.00 KZT" in page.locator("dl.fields").inner_text()
    _shot(page, "payment")
    context.close()


def test_deactivate_a_seller(browser: Any, gateway: RunningGateway, admin: IssuedKey, world: dict[str, Any]) -> None:
    page = _signed_in(browser, gateway.base_url, admin.plaintext)
    page.goto("/console/sellers")
    row = page.locator(f"#route-{world['shops'][1]}-sandbox")
    row.get_by_role("button", name="Deactivate").click()
    page.wait_for_selector(".notice")
    assert page.locator(f"#route-{world['shops'][1]}-sandbox").get_by_role("button", name="Activate").count() == 1
    _shot(page, "sellers")
    page.context.close()


def test_redeliver_a_delivery(browser: Any, gateway: RunningGateway, admin: IssuedKey, world: dict[str, Any]) -> None:
    page = _signed_in(browser, gateway.base_url, admin.plaintext)
    page.goto("/console/webhooks")
    deliveries = page.locator("#deliveries tr:has(td)")
    assert deliveries.count() >= 1
    deliveries.first.get_by_role("button", name="Redeliver").click()
    page.wait_for_selector(".notice")
    assert page.locator("#deliveries tr:has(td)").first.get_by_text("pending").count() == 1
    _shot(page, "webhooks")
    page.goto("/console/keys")
    _shot(page, "keys")
    page.goto("/console/settlements")
    _shot(page, "settlements")
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto("/docs/")
    try:
        page.wait_for_selector(".swagger-ui .info", timeout=10_000)
    except Exception:
        raise AssertionError(problems) from None
    _shot(page, "docs")
    page.context.close()


def test_a_shop_restricted_key_cannot_see_another_shop_s_payment(
    browser: Any, gateway: RunningGateway, world: dict[str, Any]
) -> None:
    seller = world["seller"]
    theirs = next(p for p in world["payments"] if p["shop_id"] == world["shops"][1])
    page = _signed_in(browser, gateway.base_url, seller.plaintext)
    page.goto("/console/payments")
    assert theirs["id"] not in page.content()
    assert page.locator("table.list tbody tr").count() == 3
    answer = page.goto(f"/console/payments/{theirs['id']}")
    assert answer is not None and answer.status == 404
    assert page.get_by_text("Not found.").count() == 1
    page.context.close()


def test_a_form_with_a_forged_csrf_token_is_refused(
    browser: Any, gateway: RunningGateway, admin: IssuedKey, world: dict[str, Any]
) -> None:
    page = _signed_in(browser, gateway.base_url, admin.plaintext)
    payment = world["payments"][0]
    page.goto(f"/console/payments/{payment['id']}")
    page.locator("#refund-form input[name=csrf]").evaluate("input => { input.value = 'forged' }")
    page.fill("#refund-form input[name=amount]", "1.00")
    with page.expect_navigation() as navigation:
        page.click("#refund-form button[type=submit]")
    assert navigation.value is not None and navigation.value.status == 403
    assert page.get_by_text("The form expired").count() == 1
    page.context.close()


def test_the_russian_switch_is_remembered(browser: Any, gateway: RunningGateway, admin: IssuedKey, world: dict[str, Any]) -> None:
    page = _signed_in(browser, gateway.base_url, admin.plaintext)
    page.goto("/console/payments")
    page.click("#lang-ru")
    page.wait_for_selector("h1:has-text('Платежи')")
    page.goto("/console/")
    assert page.locator("h1").inner_text() == "Обзор"
    _shot(page, "overview-ru")
    page.click("#lang-en")
    page.wait_for_selector("h1:has-text('Overview')")
    page.context.close()
