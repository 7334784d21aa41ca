"""Signed links a customer's browser opens without a key, through the real app on PostgreSQL with the
Kaspi simulator: the QR picture, the pay page and its status, and every way a token is refused."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import zxingcpp
from PIL import Image

from adapters.checkout_tokens import CheckoutTokens

from config.settings import Settings

from tests.support.gateways import (
    IssuedKey,
    RunningGateway,
    every_provider_on,
    gateway_settings,
    issue_key,
    prepare,
)
from tests.support.logs import JsonLogs
from tests.support.yookassa import YOOKASSA_SANDBOX_PREFIX, new_shop

pytestmark = pytest.mark.postgres

SHOP, OTHER_SHOP = 121038, 576631  # demo sellers with Kaspi routes


@pytest.fixture(scope="module")
def settings(postgres_url: str) -> Settings:
    settings = every_provider_on(gateway_settings(postgres_url))
    prepare(settings)
    return settings


@pytest.fixture(scope="module")
def api(gateway: RunningGateway, settings: Settings) -> Iterator[httpx.Client]:
    key: IssuedKey = issue_key(settings, ["payments", "admin"])
    with httpx.Client(base_url=gateway.base_url, headers=key.header, timeout=30) as client:
        yield client


@pytest.fixture
def browser(gateway: RunningGateway) -> Iterator[httpx.Client]:
    """No key: what a customer's browser or an `<img>` tag sends."""
    with httpx.Client(base_url=gateway.base_url, timeout=30) as client:
        yield client


def kaspi_link_payment(api: httpx.Client, shop: int = SHOP, **fields: Any) -> dict[str, Any]:
    body = {"shop_id": shop, "provider": "kaspi", "method": "link", "amount": 250000, "currency": "KZT",
            "order_id": f"order-{uuid.uuid4().hex[:8]}", **fields}
    answer = api.post("/v1/payments", json=body)
    assert answer.status_code == 201, answer.text
    payment: dict[str, Any] = answer.json()
    return payment


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_a_kaspi_link_payment_carries_a_signed_qr_picture_that_decodes_to_its_link(
    api: httpx.Client, browser: httpx.Client
) -> None:
    payment = kaspi_link_payment(api)
    assert payment["qr"] == payment["payment_link"] and payment["expires_at"]
    assert payment["qr_image_url"].startswith(f"/v1/payments/{payment['id']}/qr.png?token=")
    assert payment["pay_url"].startswith(f"/pay/{payment['id']}?token=")

    png = browser.get(payment["qr_image_url"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["referrer-policy"] == "no-referrer"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert decoded.text == payment["payment_link"]

    svg = browser.get(payment["qr_image_url"].replace("/qr.png?", "/qr.svg?"))
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<svg") and svg.headers["referrer-policy"] == "no-referrer"


def test_a_payment_read_again_shows_the_same_links(api: httpx.Client) -> None:
    payment = kaspi_link_payment(api)
    again = api.get(f"/v1/payments/{payment['id']}").json()
    assert (again["qr_image_url"], again["pay_url"]) == (payment["qr_image_url"], payment["pay_url"])


def refused(answer: httpx.Response) -> bool:
    return (
        answer.status_code == 403
        and answer.json()["error"]["code"] == "invalid_token"
        and answer.headers["referrer-policy"] == "no-referrer"
    )


@pytest.mark.parametrize("path", ["/v1/payments/{id}/qr.png", "/v1/payments/{id}/qr.svg", "/pay/{id}", "/pay/{id}/status"])
def test_a_missing_tampered_or_foreign_token_is_refused(api: httpx.Client, browser: httpx.Client, path: str) -> None:
    payment, other_shops = kaspi_link_payment(api), kaspi_link_payment(api, OTHER_SHOP)
    url = path.format(id=payment["id"])
    token = token_of(payment["pay_url"])
    expiry, mac = token.split(".")
    tampered_mac = f"{expiry}.{('A' if mac[0] != 'A' else 'B')}{mac[1:]}"
    later_expiry = f"{int(expiry) + 3600}.{mac}"

    assert refused(browser.get(url))
    for bad in (tampered_mac, later_expiry, "garbage", token_of(other_shops["pay_url"])):
        assert refused(browser.get(url, params={"token": bad})), bad
    # And this payment's token does not open the other shop's payment.
    assert refused(browser.get(path.format(id=other_shops["id"]), params={"token": token}))
    assert browser.get(url, params={"token": token}).status_code == 200


def test_an_expired_token_is_refused(api: httpx.Client, browser: httpx.Client, gateway: RunningGateway) -> None:
    payment = kaspi_link_payment(api)
    tokens: CheckoutTokens = gateway.container.checkout_tokens()
    expired = tokens.sign(payment["id"], datetime.now(UTC) - timedelta(seconds=1))
    assert refused(browser.get(f"/pay/{payment['id']}", params={"token": expired}))


def test_the_pay_page_shows_the_qr_the_kaspi_link_and_the_status(api: httpx.Client, browser: httpx.Client) -> None:
    payment = kaspi_link_payment(api)
    page = browser.get(payment["pay_url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert f'href="{payment["payment_link"]}"' in page.text and "Open in Kaspi" in page.text
    assert "/qr.svg?token=" in page.text and "Waiting for payment" in page.text

    status = browser.get(f"/pay/{payment['id']}/status", params={"token": token_of(payment["pay_url"])})
    assert status.json() == {"status": "pending", "status_text": "Waiting for payment", "final": False, "return_url": None}


def test_the_access_log_masks_the_token(api: httpx.Client, browser: httpx.Client, json_logs: JsonLogs) -> None:
    payment = kaspi_link_payment(api)
    token = token_of(payment["pay_url"])
    answer = browser.get(payment["qr_image_url"])

    [access] = json_logs.events("request", request_id=answer.headers["X-Request-ID"])
    assert access["query"] == "token=***"
    assert token not in json_logs.text


def test_a_remote_payment_has_no_qr_and_no_pay_page(api: httpx.Client) -> None:
    answer = api.post("/v1/payments", json={
        "shop_id": SHOP, "provider": "kaspi", "method": "remote", "amount": 100000, "currency": "KZT",
        "phone": "+7 701 521 15 45",
    })
    assert answer.status_code == 201, answer.text
    assert (answer.json()["qr_image_url"], answer.json()["pay_url"]) == (None, None)


def test_the_pay_page_of_a_redirect_payment_sends_the_customer_to_the_providers_checkout(
    api: httpx.Client, browser: httpx.Client
) -> None:
    shop = 900_000_000 + uuid.uuid4().int % 100_000_000
    yookassa_shop, secret_key = new_shop()
    enrolled = api.post(f"{YOOKASSA_SANDBOX_PREFIX}/shops", json={"shop_id": yookassa_shop, "secret_key": secret_key})
    assert enrolled.status_code == 201, enrolled.text
    route = api.post("/admin/routes", json={
        "shop_id": shop, "provider": "yookassa", "merchant_account": yookassa_shop,
        "credentials": {"secret_key": secret_key}, "is_default": True,
    })
    assert route.status_code == 201, route.text
    answer = api.post("/v1/payments", json={
        "shop_id": shop, "amount": 150000, "currency": "RUB", "return_url": "https://shop.example/orders/7",
    })
    assert answer.status_code == 201, answer.text
    payment = answer.json()
    assert payment["qr_image_url"] is None and payment["pay_url"]

    page = browser.get(payment["pay_url"])
    assert page.status_code == 303 and page.headers["location"] == payment["checkout_url"]
    assert page.headers["referrer-policy"] == "no-referrer"


def stripe_shop(api: httpx.Client) -> tuple[int, str]:
    shop = 900_000_000 + uuid.uuid4().int % 100_000_000
    account = f"acct_{uuid.uuid4().hex[:16]}"
    route = api.post("/admin/routes", json={"shop_id": shop, "provider": "stripe", "merchant_account": account})
    assert route.status_code == 201, route.text
    return shop, account


@pytest.mark.parametrize("method", ["card", "apple_pay", "google_pay"])
def test_a_stripe_payment_carries_what_stripe_js_needs(api: httpx.Client, method: str) -> None:
    shop, account = stripe_shop(api)
    answer = api.post("/v1/payments", json={
        "shop_id": shop, "provider": "stripe", "method": method, "amount": 2500, "currency": "USD",
    })
    assert answer.status_code == 201, answer.text
    payment = answer.json()
    assert payment["method"] == method
    assert payment["client_secret"].startswith(f"{payment['external_id']}_secret_")
    assert (payment["publishable_key"], payment["stripe_account"]) == ("pk_test_paygate_simulator", account)


def test_wallets_are_refused_where_the_provider_has_none(api: httpx.Client) -> None:
    answer = api.post("/v1/payments", json={
        "shop_id": SHOP, "provider": "kaspi", "method": "apple_pay", "amount": 100000, "currency": "KZT",
    })
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "capability_not_supported"
    kaspi = kaspi_link_payment(api)
    assert (kaspi["publishable_key"], kaspi["stripe_account"]) == (None, None)


def stripe_payment(api: httpx.Client, method: str = "card") -> dict[str, Any]:
    shop, _account = stripe_shop(api)
    answer = api.post("/v1/payments", json={
        "shop_id": shop, "provider": "stripe", "method": method, "amount": 2500, "currency": "USD",
    })
    assert answer.status_code == 201, answer.text
    payment: dict[str, Any] = answer.json()
    return payment


def confirm(browser: httpx.Client, payment: dict[str, Any], **fields: str) -> httpx.Response:
    """What Stripe.js sends: the publishable key, the client secret, the connected account."""
    return browser.post(f"/sandbox/stripe/v1/payment_intents/{payment['external_id']}/confirm", data={
        "key": payment["publishable_key"], "client_secret": payment["client_secret"],
        "_stripe_account": payment["stripe_account"], **fields,
    })


@pytest.mark.parametrize(("method", "wallet"), [("apple_pay", "apple_pay"), ("google_pay", "google_pay"), ("card", None)])
def test_the_payment_shows_the_wallet_that_paid_as_the_status_sync_reads_it(
    api: httpx.Client, browser: httpx.Client, method: str, wallet: str | None
) -> None:
    """The Charge's `payment_method_details.card.wallet.type`, read by the sync (no webhook told here)."""
    payment = stripe_payment(api, method)
    assert payment["wallet"] is None
    paid = browser.post(
        f"/sandbox/stripe/control/payment_intents/{payment['external_id']}/pay", json={"wallet": wallet} if wallet else {}
    )
    assert paid.status_code == 200, paid.text

    synced = api.get(f"/v1/payments/{payment['id']}").json()

    assert (synced["status"], synced["wallet"]) == ("succeeded", wallet)
    assert api.get(f"/v1/payments/{payment['id']}").json()["wallet"] == wallet  # stored, not just answered


def test_a_card_confirmed_as_stripe_js_does_pays_through_the_webhook(api: httpx.Client, browser: httpx.Client) -> None:
    payment = stripe_payment(api, "apple_pay")
    confirmed = confirm(browser, payment, payment_method="pm_card_visa")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded", confirmed.text
    paid = api.get(f"/v1/payments/{payment['id']}").json()
    assert (paid["status"], paid["status_source"]) == ("succeeded", "webhook:stripe")


@pytest.mark.parametrize(("method", "wallet"), [("apple_pay", "apple_pay"), ("google_pay", "google_pay")])
def test_a_wallet_payment_records_the_wallet_that_paid_through_the_webhook(
    api: httpx.Client, browser: httpx.Client, method: str, wallet: str
) -> None:
    """The success event names its Charge by id only: the webhook asks Stripe for it once, and the
    wallet lands with the settle. Read back settled, so no refresh asks Stripe afterwards."""
    payment = stripe_payment(api, method)
    # The PaymentMethod Stripe.js makes of the wallet's card (the stand-in's Payment Request names it so).
    confirmed = confirm(browser, payment, payment_method=f"pm_standin_{wallet}")
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded", confirmed.text

    paid = api.get(f"/v1/payments/{payment['id']}").json()

    assert (paid["status"], paid["status_source"], paid["wallet"]) == ("succeeded", "webhook:stripe", wallet)
    asked = [r for r in stripe_requests(browser) if r["method"] == "GET" and payment["external_id"] in r["path"]]
    assert len(asked) == 1  # one retrieve, by the webhook


def test_a_plain_card_paid_through_the_webhook_records_no_wallet(api: httpx.Client, browser: httpx.Client) -> None:
    payment = stripe_payment(api, "card")
    assert confirm(browser, payment, payment_method="pm_card_visa").json()["status"] == "succeeded"

    paid = api.get(f"/v1/payments/{payment['id']}").json()

    assert (paid["status"], paid["status_source"], paid["wallet"]) == ("succeeded", "webhook:stripe", None)


def test_the_webhooks_settle_stands_when_stripe_does_not_answer_which_wallet_paid(
    api: httpx.Client, browser: httpx.Client
) -> None:
    payment = stripe_payment(api, "apple_pay")
    knobs = browser.post("/sandbox/stripe/control/knobs",
                         json={"fault": "http_503", "fault_count": 1, "fault_operations": ["retrieve"]})
    assert knobs.status_code == 200, knobs.text
    try:
        confirmed = confirm(browser, payment, payment_method="pm_standin_apple_pay")
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "succeeded", confirmed.text
        assert browser.get("/sandbox/stripe/control/knobs").json()["fault"] == "none"  # spent: the webhook's retrieve
    finally:
        browser.post("/sandbox/stripe/control/knobs", json={"fault": "none", "fault_count": None})

    paid = api.get(f"/v1/payments/{payment['id']}").json()

    assert (paid["status"], paid["status_source"], paid["wallet"]) == ("succeeded", "webhook:stripe", None)
    entries = [e for e in api.get("/admin/logs", params={"shop_id": payment["shop_id"]}).json()
               if e["payment_id"] == payment["id"]]
    assert [(e["operation_type"], e["status"], e["actor"]) for e in entries if e["operation_type"] == "status"] == [
        ("status", "error", "webhook:stripe")
    ]


def stripe_requests(browser: httpx.Client) -> list[dict[str, Any]]:
    answer = browser.get("/sandbox/stripe/control/requests")
    assert answer.status_code == 200, answer.text
    requests: list[dict[str, Any]] = answer.json()
    return requests


def test_a_declined_card_then_a_good_one(api: httpx.Client, browser: httpx.Client) -> None:
    payment = stripe_payment(api)
    declined = confirm(browser, payment, **{"payment_method_data[card][number]": "4000 0000 0000 0002"})
    assert declined.status_code == 402 and declined.json()["error"]["code"] == "card_declined"
    still_open = api.get(f"/v1/payments/{payment['id']}").json()
    assert still_open["status"] == "pending"  # the customer may try another card
    # Why, for an operator and the marketplace: the last decline, noted by the payment_failed webhook.
    assert still_open["error"] == {"code": "card_declined", "message": "declined: Your card was declined. (generic_decline)"}
    retried = confirm(browser, payment, **{"payment_method_data[card][number]": "4242424242424242"})
    assert retried.json()["status"] == "succeeded", retried.text
    paid = api.get(f"/v1/payments/{payment['id']}").json()
    assert (paid["status"], paid["error"]) == ("succeeded", None)


def test_a_three_d_secure_card_pays_after_the_challenge(api: httpx.Client, browser: httpx.Client) -> None:
    payment = stripe_payment(api)
    asked = confirm(browser, payment, return_url="https://shop.example/done",
                    **{"payment_method_data[card][number]": "4000002760003184"})
    assert asked.json()["status"] == "requires_action", asked.text
    challenge = asked.json()["next_action"]["redirect_to_url"]["url"]
    assert "3-D Secure" in browser.get(challenge).text
    assert api.get(f"/v1/payments/{payment['id']}").json()["status"] == "pending"
    done = browser.post(challenge, data={"result": "complete"})
    assert done.status_code == 303 and "redirect_status=succeeded" in done.headers["location"]
    assert api.get(f"/v1/payments/{payment['id']}").json()["status"] == "succeeded"


def test_confirming_needs_the_publishable_key_and_the_client_secret(api: httpx.Client, browser: httpx.Client) -> None:
    payment = stripe_payment(api)
    card = {"payment_method": "pm_card_visa"}
    assert confirm(browser, {**payment, "publishable_key": "pk_test_wrong"}, **card).status_code == 401
    assert confirm(browser, {**payment, "client_secret": payment["client_secret"] + "x"}, **card).status_code == 404
    assert confirm(browser, {**payment, "stripe_account": "acct_other"}, **card).status_code == 404
    assert api.get(f"/v1/payments/{payment['id']}").json()["status"] == "pending"


def test_the_stripe_pay_page_gets_the_client_secret_and_no_other_secret(
    api: httpx.Client, browser: httpx.Client, settings: Settings
) -> None:
    payment = stripe_payment(api, "google_pay")
    page = browser.get(payment["pay_url"])
    assert page.status_code == 200
    assert payment["client_secret"] in page.text and payment["stripe_account"] in page.text
    assert 'src="/sandbox/stripe/js/v3/"' in page.text  # the stand-in, since Stripe is simulated here
    for secret in settings.secrets():
        assert secret not in page.text
    assert "https://js.stripe.com" in page.headers["content-security-policy"]
