"""The operator console through the real app on PostgreSQL, as a browser's forms use it: the same
use cases and the same authorization as the API (a browser drives it in tests/browser)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from config.settings import Settings

from tests.support.console import console_client, csrf_of
from tests.support.gateways import (
    IssuedKey,
    RunningGateway,
    gateway_settings,
    issue_key,
    prepare,
    with_container,
)

pytestmark = pytest.mark.postgres

SANDBOX_SECRET = "sk_sandbox_console_5d1c"


@pytest.fixture(scope="module")
def settings(postgres_url: str) -> Settings:
    settings = gateway_settings(postgres_url, sandbox_enabled=True, console_secure_cookie=False)
    prepare(settings)
    return settings


@pytest.fixture(scope="module")
def admin(settings: Settings) -> IssuedKey:
    return issue_key(settings, ["payments", "admin"])


@pytest.fixture(scope="module")
def api(gateway: RunningGateway, admin: IssuedKey) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, headers=admin.header, timeout=30) as client:
        yield client


def _shop(api: httpx.Client) -> int:
    shop = 800_000_000 + uuid.uuid4().int % 100_000_000
    answer = api.post("/admin/routes", json={
        "shop_id": shop, "provider": "sandbox", "merchant_account": f"sbx-{shop}",
        "credentials": {"secret_key": SANDBOX_SECRET}, "is_default": True,
    })
    assert answer.status_code == 201, answer.text
    return shop


@pytest.fixture(scope="module")
def shops(api: httpx.Client) -> tuple[int, int]:
    return _shop(api), _shop(api)


def _pay(api: httpx.Client, shop: int, **fields: object) -> dict[str, Any]:
    body = {"shop_id": shop, "amount": 150_000, "currency": "KZT", "method": "card"} | fields
    answer = api.post("/v1/payments", json=body)
    assert answer.status_code == 201, answer.text
    payment: dict[str, Any] = answer.json()
    return payment


def test_sign_in_sets_a_strict_http_only_session_cookie(gateway: RunningGateway, admin: IssuedKey) -> None:
    with httpx.Client(base_url=gateway.base_url) as client:
        form = client.get("/console/sign-in")
        answer = client.post("/console/sign-in", data={"api_key": admin.plaintext, "csrf": csrf_of(form.text)})
    cookie = answer.headers["set-cookie"]
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    assert "paygate_console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Max-Age=43200" in cookie and "Path=/console" in cookie and "Secure" not in cookie


def test_a_wrong_key_or_a_missing_token_does_not_sign_in(gateway: RunningGateway, admin: IssuedKey) -> None:
    with httpx.Client(base_url=gateway.base_url) as client:
        token = csrf_of(client.get("/console/sign-in").text)
        wrong = client.post("/console/sign-in", data={"api_key": "pgk_nope", "csrf": token})
        forged = client.post("/console/sign-in", data={"api_key": admin.plaintext, "csrf": "forged"})
        unsigned = client.get("/console/payments")
    assert wrong.status_code == 401 and "paygate_console=" not in wrong.headers.get("set-cookie", "")
    assert forged.status_code == 403
    assert unsigned.status_code == 303 and unsigned.headers["location"] == "/console/sign-in"


def test_a_forged_session_cookie_is_not_a_session(gateway: RunningGateway) -> None:
    with httpx.Client(base_url=gateway.base_url, cookies={"paygate_console": "eyJrIjoia2V5XzEifQ.AAAA"}) as client:
        assert client.get("/console/payments").status_code == 303


def test_an_order_id_finds_its_payment_whose_page_refunds_with_a_reason(
    gateway: RunningGateway, api: httpx.Client, admin: IssuedKey, shops: tuple[int, int]
) -> None:
    order = f"order-{uuid.uuid4().hex[:8]}"
    payment = _pay(api, shops[0], order_id=order)
    with console_client(gateway.base_url, admin.plaintext) as console:
        found = console.get("/console/payments", params={"q": order})
        page = console.get(f"/console/payments/{payment['id']}")
        before = page.text.count("<li class=\"t-")
        refunded = console.post(
            f"/console/payments/{payment['id']}/refund",
            data={"amount": "400.00", "reason": "customer returned the roses", "csrf": csrf_of(page.text)},
        )
        after = console.get(f"/console/payments/{payment['id']}")
    assert payment["id"] in found.text and found.text.count("/console/payments/pay_") == 1
    assert refunded.status_code == 303, refunded.text
    assert "customer returned the roses" in after.text and "refund_reason" in after.text
    assert after.text.count("<li class=\"t-") > before
    read = api.get(f"/v1/payments/{payment['id']}").json()
    assert read["refunds"]["refunded"] == 40_000
    assert read["refunds"]["items"][0]["reason"] == "customer returned the roses"


def test_a_refund_form_sent_twice_refunds_once_and_a_new_form_refunds_again(
    gateway: RunningGateway, api: httpx.Client, admin: IssuedKey, shops: tuple[int, int]
) -> None:
    payment = _pay(api, shops[0])
    with console_client(gateway.base_url, admin.plaintext) as console:
        page = console.get(f"/console/payments/{payment['id']}")
        form = {"amount": "100.00", "csrf": csrf_of(page.text), "attempt": _attempt_of(page.text)}
        first = console.post(f"/console/payments/{payment['id']}/refund", data=form)
        twice = console.post(f"/console/payments/{payment['id']}/refund", data=form)  # a double-click
        assert api.get(f"/v1/payments/{payment['id']}").json()["refunds"]["refunded"] == 10_000
        again = console.get(f"/console/payments/{payment['id']}")
        third = console.post(
            f"/console/payments/{payment['id']}/refund",
            data={**form, "attempt": _attempt_of(again.text)},
        )
    assert (first.status_code, twice.status_code, third.status_code) == (303, 303, 303)
    read = api.get(f"/v1/payments/{payment['id']}").json()
    assert read["refunds"]["refunded"] == 20_000 and len(read["refunds"]["items"]) == 2


def _attempt_of(html: str) -> str:
    marker = 'name="attempt" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_a_form_without_the_session_token_is_refused(
    gateway: RunningGateway, api: httpx.Client, admin: IssuedKey, shops: tuple[int, int]
) -> None:
    payment = _pay(api, shops[0])
    with console_client(gateway.base_url, admin.plaintext) as console:
        refused = console.post(f"/console/payments/{payment['id']}/refund", data={"amount": "1.00", "csrf": "x"})
    assert refused.status_code == 403
    assert api.get(f"/v1/payments/{payment['id']}").json()["refunds"]["refunded"] == 0


def test_a_shop_restricted_key_sees_only_its_shop(
    gateway: RunningGateway, settings: Settings, api: httpx.Client, shops: tuple[int, int]
) -> None:
    mine, theirs = _pay(api, shops[0]), _pay(api, shops[1])
    seller = issue_key(settings, ["payments"], shops=[shops[0]])
    with console_client(gateway.base_url, seller.plaintext) as console:
        listed = console.get("/console/payments")
        by_url = console.get(f"/console/payments/{theirs['id']}")
        searched = console.get("/console/payments", params={"q": theirs["id"]})
        own = console.get(f"/console/payments/{mine['id']}")
        refund = console.post(f"/console/payments/{theirs['id']}/refund", data={"csrf": csrf_of(own.text)})
    assert mine["id"] in listed.text and theirs["id"] not in listed.text
    assert 'href="/console/sellers"' not in listed.text and 'href="/console/keys"' not in listed.text
    assert by_url.status_code == 404 and f"/console/payments/{theirs['id']}" not in searched.text
    assert refund.status_code == 404
    assert api.get(f"/v1/payments/{theirs['id']}").json()["refunds"]["refunded"] == 0


def test_a_read_only_key_sees_a_payment_and_cannot_refund_it(
    gateway: RunningGateway, settings: Settings, api: httpx.Client, shops: tuple[int, int]
) -> None:
    payment = _pay(api, shops[0])
    reader = issue_key(settings, ["payments:read"])
    with console_client(gateway.base_url, reader.plaintext) as console:
        page = console.get(f"/console/payments/{payment['id']}")
        refused = console.post(f"/console/payments/{payment['id']}/refund", data={"csrf": csrf_of(page.text)})
    assert page.status_code == 200 and "refund-form" not in page.text
    assert refused.status_code == 403


def test_a_revoked_key_s_session_ends_at_its_next_request(gateway: RunningGateway, settings: Settings) -> None:
    key = issue_key(settings, ["payments"])
    with console_client(gateway.base_url, key.plaintext) as console:
        assert console.get("/console/payments").status_code == 200
        with_container(settings, lambda container: container.api_keys().revoke(key.id, actor="test"))
        after = console.get("/console/payments")
    assert after.status_code == 303 and after.headers["location"] == "/console/sign-in"


def test_the_csv_export_defuses_formulas(
    gateway: RunningGateway, api: httpx.Client, admin: IssuedKey, shops: tuple[int, int]
) -> None:
    order = f"=HYPERLINK(\"x\")-{uuid.uuid4().hex[:6]}"
    _pay(api, shops[0], order_id=order, description="@SUM(A1)")
    with console_client(gateway.base_url, admin.plaintext) as console:
        exported = console.get("/console/payments.csv", params={"q": order})
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0].startswith("id,created_at,shop_id") and len(lines) == 2
    assert "'=HYPERLINK" in lines[1] and "'@SUM(A1)" in lines[1]


def test_the_csv_export_holds_no_secret_and_no_link_that_pays(
    gateway: RunningGateway, api: httpx.Client, admin: IssuedKey, shops: tuple[int, int]
) -> None:
    order = f"browser-only-{uuid.uuid4().hex[:6]}"
    payment = _pay(api, shops[0], order_id=order)
    names = ("client_secret", "checkout_url", "payment_link", "qr", "qr_image_url", "pay_url")
    for_the_browser = [str(payment[name]) for name in names if payment[name]]
    assert for_the_browser  # the API gave the paying client something to keep from the export
    with console_client(gateway.base_url, admin.plaintext) as console:
        exported = console.get("/console/payments.csv", params={"q": order})
    assert str(payment["id"]) in exported.text
    assert [value for value in for_the_browser if value in exported.text] == []


def test_the_language_switch_is_remembered(gateway: RunningGateway, admin: IssuedKey) -> None:
    with console_client(gateway.base_url, admin.plaintext) as console:
        switched = console.get("/console/lang/ru", params={"next": "/console/payments"})
        page = console.get("/console/payments")
        back = console.get("/console/lang/en", params={"next": "https://evil.example/"})
    assert switched.status_code == 303 and switched.headers["location"] == "/console/payments"
    assert "Платежи" in page.text and back.headers["location"] == "/console/"


def test_every_page_renders_for_an_admin(gateway: RunningGateway, admin: IssuedKey, shops: tuple[int, int]) -> None:
    with console_client(gateway.base_url, admin.plaintext) as console:
        for path in ("/console/", "/console/payments", "/console/sellers", "/console/webhooks", "/console/keys", "/console/settlements"):
            answer = console.get(path)
            assert answer.status_code == 200, (path, answer.text[-500:])
            assert "default-src 'none'" in answer.headers["content-security-policy"]
        overview = console.get("/console/")
    assert "<svg" in overview.text and str(shops[0]) in overview.text


def test_a_seller_is_deactivated_and_a_wrong_bin_refused_from_the_form(
    gateway: RunningGateway, api: httpx.Client, admin: IssuedKey
) -> None:
    shop = _shop(api)
    with console_client(gateway.base_url, admin.plaintext) as console:
        token = csrf_of(console.get("/console/sellers").text)
        deactivated = console.post(f"/console/sellers/{shop}/sandbox", data={"action": "deactivate", "csrf": token})
        wrong_bin = console.post(
            "/console/sellers", data={"shop_id": str(shop), "provider": "kaspi", "merchant_account": "990140001234", "csrf": token}
        )
    assert deactivated.status_code == 303
    assert api.get(f"/admin/routes/{shop}/sandbox").json()["is_active"] is False
    assert wrong_bin.status_code == 303 and "check+digit" in wrong_bin.headers["location"]
    assert api.get(f"/admin/routes/{shop}/kaspi").status_code == 404


def test_a_key_created_in_the_console_never_exceeds_its_creator(
    gateway: RunningGateway, settings: Settings, api: httpx.Client
) -> None:
    creator = issue_key(settings, ["admin", "payments:read"])
    with console_client(gateway.base_url, creator.plaintext) as console:
        token = csrf_of(console.get("/console/keys").text)
        beyond = console.post("/console/keys", data={"name": "too-much", "scope_payments:write": "on", "csrf": token})
        within = console.post("/console/keys", data={"name": "reader", "scope_payments:read": "on", "csrf": token})
    assert beyond.status_code == 303 and "lacks" in beyond.headers["location"]
    assert within.status_code == 200 and "pgk_" in within.text
    stored = with_container(settings, lambda container: container.api_keys().list())
    assert "too-much" not in {key.name for key in stored}


def test_settlements_through_v1_in_json_and_csv(
    gateway: RunningGateway, settings: Settings, api: httpx.Client, shops: tuple[int, int]
) -> None:
    shop = _shop(api)
    _pay(api, shop, amount=70_000)
    paid = _pay(api, shop, amount=30_000)
    assert api.post(f"/v1/payments/{paid['id']}/refunds", json={"amount": 5_000, "reason": "late"}).status_code == 201
    today = datetime.now(ZoneInfo("Asia/Almaty")).date().isoformat()
    seller = issue_key(settings, ["payments:read"], shops=[shops[1]])

    report = api.get("/v1/reports/settlements", params={"shop_id": shop, "from": today, "to": today})
    as_csv = api.get("/v1/reports/settlements", params={"shop_id": shop, "from": today, "to": today}, headers={"Accept": "text/csv"})
    foreign = httpx.get(
        f"{gateway.base_url}/v1/reports/settlements", params={"shop_id": shop, "from": today, "to": today}, headers=seller.header
    )
    bad = api.get("/v1/reports/settlements", params={"from": "yesterday", "to": today})

    assert report.json() == {"data": [{
        "shop_id": shop, "date": today, "provider": "sandbox", "currency": "KZT", "payments_count": 2,
        "paid": 100_000, "refunds_count": 1, "refunded": 5_000, "net": 95_000,
    }]}
    assert as_csv.text.splitlines() == [
        "shop_id,date,provider,currency,payments_count,paid,refunds_count,refunded,net",
        f"{shop},{today},sandbox,KZT,2,100000,1,5000,95000",
    ]
    assert foreign.json() == {"data": []}
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "from"


def test_the_api_documentation_page_serves_its_assets_locally(gateway: RunningGateway) -> None:
    with httpx.Client(base_url=gateway.base_url) as client:
        bare = client.get("/docs")
        page = client.get("/docs/")
        bundle = client.get("/docs/assets/swagger-ui-bundle.js")
        init = client.get("/docs/init.js")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text and "//" not in page.text
    assert bare.status_code in (307, 308) and bare.headers["location"].endswith("/docs/")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert "/openapi.json" in init.text
