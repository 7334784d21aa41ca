"""CloudPayments through a real gateway (SQLite and PostgreSQL): its notifications, its simulator, the /v1 API."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from adapters.providers.cloudpayments import notifications
from config.container import build_container
from config.settings import Settings
from entrypoints import cli
from entrypoints.http.app import create_app
from tests.support.databases import BACKENDS
from tests.support.servers import free_port, serve

SANDBOX = "/sandbox/cloudpayments"
DEMO_SELLERS = Path(__file__).resolve().parents[2] / "demo" / "sellers.csv"


@attrs.define
class Gateway:
    http: httpx.Client
    shop_id: int
    public_id: str
    api_secret: str

    def create(self, amount: int = 150_050, **extra: Any) -> dict[str, Any]:
        body = {"shop_id": self.shop_id, "provider": "cloudpayments", "amount": amount, "currency": "RUB", **extra}
        response = self.http.post("/v1/payments", json={"description": "Roses", **body})
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def payment(self, payment_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/payments/{payment_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def order_of(self, payment: dict[str, Any]) -> str:
        return str(payment["payment_link"]).rsplit("/", 1)[1]

    def notify(
        self,
        kind: str,
        fields: dict[str, Any],
        *,
        secret: str | None = None,
        fmt: str = notifications.FORM,
        header: str = "Content-HMAC",
    ) -> httpx.Response:
        body, content_type = notifications.encode(fields, fmt)
        signature = notifications.sign(body, self.api_secret if secret is None else secret)
        return self.http.post(
            f"/webhooks/cloudpayments/{kind}", content=body, headers={"Content-Type": content_type, header: signature}
        )

    def status_changes(self) -> list[dict[str, Any]]:
        logs = self.http.get("/admin/logs", params={"shop_id": self.shop_id, "limit": 100}).json()
        return [entry for entry in logs if entry["operation_type"] == "status_change"]


@pytest.fixture(scope="module", params=BACKENDS)
def served_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """One gateway per backend for the module (base URL, API key), CloudPayments on its simulator."""
    if request.param == "sqlite":
        database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cloudpayments') / 'paygate.db'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
    key_file = tmp_path_factory.mktemp("keys") / "api-key"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        assert cli.main(["demo", "init", "--sellers", str(DEMO_SELLERS), "--key-file", str(key_file)]) == 0
    port = free_port()
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "CLOUDPAYMENTS_API_URL": "simulator",
            "CLOUDPAYMENTS_TIMEOUT_SECONDS": "2",
        }
    )
    with serve(create_app(build_container(settings)), port=port) as base_url:
        yield base_url, key_file.read_text().strip()


@pytest.fixture
def gateway(served_gateway: tuple[str, str]) -> Iterator[Gateway]:
    """A new seller per test: a shop with a CloudPayments route, and its site at the simulator."""
    base_url, api_key = served_gateway
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as http:
        gateway = Gateway(
            http=http,
            shop_id=secrets.randbelow(10**9) + 10**9,
            public_id=f"pk_{secrets.token_hex(8)}",
            api_secret=secrets.token_urlsafe(24),
        )
        added = http.post(
            "/admin/routes",
            json={
                "shop_id": gateway.shop_id,
                "provider": "cloudpayments",
                "merchant_account": gateway.public_id,
                "credentials": {"api_secret": gateway.api_secret},
            },
        )
        assert added.status_code == 201, added.text
        # The seller's CloudPayments site, notifying this gateway (the simulator's default URL).
        site = http.post(f"{SANDBOX}/sites", json={"public_id": gateway.public_id, "api_secret": gateway.api_secret})
        assert site.status_code == 201, site.text
        yield gateway


def pay_fields(payment: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "TransactionId": 700_000_000 + secrets.randbelow(10**8),
        "Amount": Decimal(payment["amount"]).scaleb(-2),
        "Currency": "RUB",
        "InvoiceId": payment["id"],
        "Status": "Completed",
        "OperationType": "Payment",
        "TestMode": 1,
        **changes,
    }


# --- The customer pays on the simulator: notifications do the rest --------------------------------


def test_a_paid_link_succeeds_on_the_pay_notification(gateway: Gateway) -> None:
    payment = gateway.create()
    assert (payment["status"], payment["external_id"]) == ("pending", payment["id"])

    attempt = gateway.http.post(f"{SANDBOX}/orders/{gateway.order_of(payment)}/pay").json()

    assert [(n["kind"], n["status_code"], n["code"]) for n in attempt["notifications"]] == [
        ("check", 200, 0),
        ("pay", 200, 0),
    ]
    assert gateway.payment(payment["id"])["status"] == "succeeded"
    [change] = gateway.status_changes()
    assert change["actor"] == "webhook:cloudpayments"


def test_a_declined_attempt_fails_the_payment_from_cloudpayments_own_status(gateway: Gateway) -> None:
    payment = gateway.create()

    attempt = gateway.http.post(f"{SANDBOX}/orders/{gateway.order_of(payment)}/decline").json()

    assert [n["kind"] for n in attempt["notifications"]] == ["check", "fail"]
    assert gateway.payment(payment["id"])["status"] == "failed"
    # Fail is a hint: the status came from payments/find, not from the notification's own word.
    finds = [r for r in gateway.http.get(f"{SANDBOX}/requests").json() if r["operation"] == "find"]
    assert finds


def test_a_second_attempt_on_a_failed_payment_is_refused_at_check(gateway: Gateway) -> None:
    payment = gateway.create()
    order_id = gateway.order_of(payment)
    gateway.http.post(f"{SANDBOX}/orders/{order_id}/decline")

    attempt = gateway.http.post(f"{SANDBOX}/orders/{order_id}/pay").json()

    # The order is still open at CloudPayments; the gateway's Check stops money it could not book.
    assert [(n["kind"], n["code"]) for n in attempt["notifications"]] == [
        ("check", notifications.REJECTED),
        ("fail", 0),
    ]
    assert attempt["transaction"]["Status"] == "Declined"
    assert gateway.payment(payment["id"])["status"] == "failed"


def test_a_two_step_payment_is_held_captured_and_confirmed(gateway: Gateway) -> None:
    payment = gateway.create(capture=False)
    gateway.http.post(f"{SANDBOX}/orders/{gateway.order_of(payment)}/pay")
    assert gateway.payment(payment["id"])["status"] == "authorized"

    captured = gateway.http.post(f"/v1/payments/{payment['id']}/capture", json={})

    assert captured.status_code == 200, captured.text
    assert captured.json()["status"] == "succeeded"


def test_a_held_payment_is_cancelled_by_a_void(gateway: Gateway) -> None:
    payment = gateway.create(capture=False)
    gateway.http.post(f"{SANDBOX}/orders/{gateway.order_of(payment)}/pay")

    cancelled = gateway.http.post(f"/v1/payments/{payment['id']}/cancel", json={})

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    order = gateway.http.get(f"{SANDBOX}/orders/{gateway.order_of(payment)}").json()
    assert order["Transactions"][0]["Status"] == "Cancelled"


# --- Signed notifications sent by the test --------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "header"),
    [
        (notifications.FORM, "Content-HMAC"),
        (notifications.JSON, "X-Content-HMAC"),
        (notifications.FORM, "x-content-hmac"),
    ],
)
def test_a_signed_pay_in_either_format_and_header_settles_the_payment(gateway: Gateway, fmt: str, header: str) -> None:
    payment = gateway.create()

    answer = gateway.notify("pay", pay_fields(payment), fmt=fmt, header=header)

    assert (answer.status_code, answer.json()) == (200, {"code": 0})
    assert gateway.payment(payment["id"])["status"] == "succeeded"


@pytest.mark.parametrize(
    "forge",
    [
        {"secret": "a-secret-the-forger-guessed"},
        {"tamper": True},
        {"unsigned": True},
    ],
    ids=["wrong-secret", "tampered-body", "unsigned"],
)
def test_a_forged_notification_is_refused_and_changes_nothing(gateway: Gateway, forge: dict[str, Any]) -> None:
    payment = gateway.create()
    fields = pay_fields(payment)
    body, content_type = notifications.encode(fields, notifications.FORM)
    headers = {"Content-Type": content_type}
    if not forge.get("unsigned"):
        headers["Content-HMAC"] = notifications.sign(body, forge.get("secret", gateway.api_secret))
    if forge.get("tamper"):
        body = body.replace(b"Status=Completed", b"Status=Authorized")

    answer = gateway.http.post("/webhooks/cloudpayments/pay", content=body, headers=headers)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_signature"
    assert gateway.payment(payment["id"])["status"] == "pending"
    assert gateway.status_changes() == []


def test_a_redelivered_notification_is_applied_once(gateway: Gateway) -> None:
    payment = gateway.create(capture=False)
    attempt = gateway.http.post(f"{SANDBOX}/orders/{gateway.order_of(payment)}/pay").json()
    held = pay_fields(payment, Status="Authorized", TransactionId=attempt["transaction"]["TransactionId"])

    again = gateway.notify("pay", held)  # CloudPayments redelivers when it missed our answer

    assert again.json() == {"code": 0}
    assert gateway.payment(payment["id"])["status"] == "authorized"
    assert len(gateway.status_changes()) == 1


def test_a_notification_about_an_invoice_we_do_not_know_is_answered_10(gateway: Gateway) -> None:
    unknown = {"InvoiceId": "pay_nobody_made_this", "TransactionId": 1, "Amount": "1.00", "Currency": "RUB"}

    answers = [gateway.notify(kind, unknown).json() for kind in ("check", "pay")]
    no_invoice = gateway.notify("pay", {"TransactionId": 1, "Amount": "1.00"}).json()

    assert answers == [{"code": 10}, {"code": 10}]
    assert no_invoice == {"code": 10}


def test_check_approves_only_the_right_amount_of_an_open_payment_and_changes_nothing(gateway: Gateway) -> None:
    payment = gateway.create(amount=150_050)

    right = gateway.notify("check", pay_fields(payment)).json()
    wrong = gateway.notify("check", pay_fields(payment, Amount=Decimal("1500.49"))).json()
    currency = gateway.notify("check", pay_fields(payment, Currency="USD")).json()
    finer = gateway.notify("check", pay_fields(payment, Amount="1500.501")).json()
    unchanged = gateway.payment(payment["id"])["status"]
    gateway.notify("pay", pay_fields(payment))
    after_paid = gateway.notify("check", pay_fields(payment)).json()

    assert (right, wrong, currency, finer) == ({"code": 0}, {"code": 11}, {"code": 11}, {"code": 11})
    assert unchanged == "pending"
    assert after_paid == {"code": notifications.REJECTED}


def test_a_pay_of_another_amount_does_not_succeed_the_payment(gateway: Gateway) -> None:
    payment = gateway.create(amount=150_050)

    answer = gateway.notify("pay", pay_fields(payment, Amount=Decimal("15.05"))).json()

    assert answer == {"code": 11}
    assert gateway.status_changes() == []


def test_refund_notifications_are_acknowledged_and_change_nothing(gateway: Gateway) -> None:
    payment = gateway.create()
    gateway.notify("pay", pay_fields(payment))

    answer = gateway.notify("refund", pay_fields(payment, OperationType="Refund", Amount=Decimal("1.00"))).json()

    assert answer == {"code": 0}
    assert gateway.payment(payment["id"])["status"] == "succeeded"


def test_unknown_kinds_and_unreadable_bodies_are_refused(gateway: Gateway) -> None:
    payment = gateway.create()

    unknown_kind = gateway.notify("recurrent", pay_fields(payment))
    duplicate_field = gateway.http.post(
        "/webhooks/cloudpayments/pay",
        content=f"InvoiceId={payment['id']}&InvoiceId=other",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert unknown_kind.status_code == 404
    assert (duplicate_field.status_code, duplicate_field.json()["error"]["code"]) == (400, "invalid_notification")
    assert gateway.payment(payment["id"])["status"] == "pending"
