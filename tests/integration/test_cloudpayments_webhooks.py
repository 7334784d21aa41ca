"""CloudPayments through a real gateway (SQLite and PostgreSQL): its notifications, its simulator, the /v1 API."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import psycopg
import pytest
from dependency_injector import providers
from sqlalchemy.engine import make_url

from domain.payment import PaymentStatus

from adapters.providers.cloudpayments import notifications

from entrypoints import cli
from entrypoints.http.app import create_app

from config.container import Container, build_container
from config.settings import Settings

from tests.fakes import FixedClock
from tests.support.databases import BACKENDS
from tests.support.gateways import with_container
from tests.support.servers import free_port, serve

SANDBOX = "/sandbox/cloudpayments"
DEMO_SELLERS = Path(__file__).resolve().parents[2] / "demo" / "sellers.csv"


@attrs.define
class Gateway:
    http: httpx.Client
    shop_id: int
    public_id: str
    api_secret: str
    settings: Settings

    def create(self, amount: int = 150_050, **extra: Any) -> dict[str, Any]:
        body = {"shop_id": self.shop_id, "provider": "cloudpayments", "amount": amount, "currency": "RUB", **extra}
        response = self.http.post("/v1/payments", json={"description": "Roses", **body})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def payment(self, payment_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/payments/{payment_id}")
        assert response.status_code == 200, response.text
        payment: dict[str, Any] = response.json()
        return payment

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

    def event_types(self, payment_id: str) -> list[str]:
        async def read(container: Container) -> list[str]:
            async with container.uow()() as uow:
                return [event.type.value for event in await uow.outbox.list_for_payment(payment_id)]

        return with_container(self.settings, read)

    def expire(self, payment_id: str) -> None:
        """Given: Paygate expired the payment (as the poller does past its lifetime)."""

        async def expire(container: Container) -> None:
            async with container.uow()() as uow:
                payment = await uow.payments.get(payment_id, for_update=True)
                assert payment is not None
                expected = payment.version
                payment.settle(PaymentStatus.EXPIRED, provider_status="Created", at=datetime.now(UTC))
                assert await uow.payments.update(payment, expected)
                await uow.commit()

        with_container(self.settings, expire)

    def sweep_at(self, moment: datetime) -> None:
        """One poller sweep (another process than the served gateway's) with its clock at `moment`."""

        async def sweep(container: Container) -> None:
            container.clock.override(providers.Object(FixedClock(moment)))
            await container.poll_payments().sweep()

        with_container(self.settings, sweep)

    def late_successes(self) -> int:
        """The `paygate_payments_late_success` gauge (tests of a module run one at a time)."""
        metrics = self.http.get("/metrics").text.splitlines()
        [value] = [line.split()[-1] for line in metrics if line.startswith("paygate_payments_late_success ")]
        return int(float(value))

    def status_changes(self) -> list[dict[str, Any]]:
        logs = self.http.get("/admin/logs", params={"shop_id": self.shop_id, "limit": 100}).json()
        return [entry for entry in logs if entry["operation_type"] == "status_change"]


@pytest.fixture(scope="module", params=BACKENDS)
def served_gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Settings]]:
    """One gateway per backend for the module (base URL, API key), CloudPayments on its simulator."""
    if request.param == "sqlite":
        database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cloudpayments') / 'paygate.db'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
    key_file = tmp_path_factory.mktemp("keys") / "api-key"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", database_url)
        patch.setenv("PRODUCTION_API_URL", "simulator")  # the demo sellers are Kaspi's
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
        yield base_url, key_file.read_text().strip(), settings


@pytest.fixture
def gateway(served_gateway: tuple[str, str, Settings]) -> Iterator[Gateway]:
    """A new seller per test: a shop with a CloudPayments route, and its site at the simulator."""
    base_url, api_key, settings = served_gateway
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as http:
        gateway = Gateway(
            http=http,
            shop_id=secrets.randbelow(10**9) + 10**9,
            public_id=f"pk_{secrets.token_hex(8)}",
            api_secret=secrets.token_urlsafe(24),
            settings=settings,
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


def error_code(payment: dict[str, Any]) -> str | None:
    return payment["error"]["code"] if payment["error"] else None


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


def test_a_declined_attempt_leaves_the_payment_pending_with_the_decline_noted(gateway: Gateway) -> None:
    payment = gateway.create()

    attempt = gateway.http.post(f"{SANDBOX}/orders/{gateway.order_of(payment)}/decline").json()

    assert [n["kind"] for n in attempt["notifications"]] == ["check", "fail"]
    after = gateway.payment(payment["id"])
    assert (after["status"], error_code(after)) == ("pending", "reason_5051")
    # Fail is a hint: the state came from payments/find, not from the notification's own word.
    finds = [r for r in gateway.http.get(f"{SANDBOX}/requests").json() if r["operation"] == "find"]
    assert finds
    assert gateway.event_types(payment["id"]) == ["payment.created", "payment.attempt_failed"]
    assert gateway.status_changes() == []


def test_a_retry_after_a_decline_is_accepted_at_check_and_succeeds_charged_once(gateway: Gateway) -> None:
    payment = gateway.create()
    order_id = gateway.order_of(payment)
    gateway.http.post(f"{SANDBOX}/orders/{order_id}/decline")

    retry = gateway.http.post(f"{SANDBOX}/orders/{order_id}/pay").json()

    assert [(n["kind"], n["code"]) for n in retry["notifications"]] == [("check", 0), ("pay", 0)]
    after = gateway.payment(payment["id"])
    assert (after["status"], error_code(after)) == ("succeeded", None)
    order = gateway.http.get(f"{SANDBOX}/orders/{order_id}").json()
    assert [t["Status"] for t in order["Transactions"]] == ["Declined", "Completed"]
    assert gateway.event_types(payment["id"]) == ["payment.created", "payment.attempt_failed", "payment.succeeded"]


def test_a_late_fail_of_an_earlier_attempt_never_touches_a_paid_payment(gateway: Gateway) -> None:
    payment = gateway.create()
    order_id = gateway.order_of(payment)
    declined = gateway.http.post(f"{SANDBOX}/orders/{order_id}/decline").json()["transaction"]
    gateway.http.post(f"{SANDBOX}/orders/{order_id}/pay")

    late = gateway.notify("fail", pay_fields(payment, TransactionId=declined["TransactionId"], Status="Declined"))

    assert late.json() == {"code": 0}
    assert gateway.payment(payment["id"])["status"] == "succeeded"


def test_a_check_for_a_paid_payment_is_refused_13(gateway: Gateway) -> None:
    payment = gateway.create()
    gateway.http.post(f"{SANDBOX}/orders/{gateway.order_of(payment)}/pay")

    again = gateway.notify("check", pay_fields(payment)).json()

    assert again == {"code": notifications.REJECTED}


def test_an_unpaid_link_is_cancelled_at_cloudpayments_before_it_closes_here(gateway: Gateway) -> None:
    payment = gateway.create()
    order_id = gateway.order_of(payment)
    gateway.http.post(f"{SANDBOX}/orders/{order_id}/decline")  # a declined attempt: still payable

    gateway.sweep_at(datetime.now(UTC) + timedelta(hours=25))

    assert gateway.payment(payment["id"])["status"] == "cancelled"
    assert gateway.http.get(f"{SANDBOX}/orders/{order_id}").json()["Status"] == "Cancelled"
    late = gateway.http.post(f"{SANDBOX}/orders/{order_id}/pay")
    assert late.status_code == 409  # the link takes no money the gateway no longer follows


def test_a_success_reported_after_expiry_is_recorded_and_flagged(gateway: Gateway) -> None:
    payment = gateway.create()
    gateway.expire(payment["id"])
    waiting = gateway.late_successes()

    answer = gateway.notify("pay", pay_fields(payment))

    assert answer.json() == {"code": 0}
    after = gateway.payment(payment["id"])
    assert (after["status"], error_code(after)) == ("succeeded", "late_success")
    assert gateway.event_types(payment["id"])[-1] == "payment.late_success"
    logs = gateway.http.get("/admin/logs", params={"shop_id": gateway.shop_id, "limit": 100}).json()
    assert [entry["status"] for entry in logs if entry["operation_type"] == "late_success"] == ["error"]
    assert gateway.late_successes() == waiting + 1  # shown to operators until refunded


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

    wrong_amount = {"code": notifications.WRONG_AMOUNT}
    assert (right, wrong, currency, finer) == ({"code": 0}, wrong_amount, wrong_amount, wrong_amount)
    assert notifications.WRONG_AMOUNT == 12  # 11 is an invalid AccountId to CloudPayments
    assert unchanged == "pending"
    assert after_paid == {"code": notifications.REJECTED}


def test_a_pay_of_another_amount_does_not_succeed_the_payment(gateway: Gateway) -> None:
    payment = gateway.create(amount=150_050)

    answer = gateway.notify("pay", pay_fields(payment, Amount=Decimal("15.05"))).json()

    assert answer == {"code": 12}
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


# --- The signature before any lookup; input no column holds -----------------------------------------


def test_an_unsigned_notification_learns_nothing_about_the_invoice(gateway: Gateway) -> None:
    payment = gateway.create()
    forged = "not-the-secret"

    known = gateway.notify("check", pay_fields(payment), secret=forged)
    unknown = gateway.notify("check", pay_fields(payment, InvoiceId="pay_nobody_made_this"), secret=forged)

    # Both refused alike: whether an invoice exists is told only to a signed notification.
    assert (known.status_code, unknown.status_code) == (400, 400)
    assert known.json()["error"]["code"] == unknown.json()["error"]["code"] == "invalid_signature"


def test_a_notification_signed_by_another_site_is_about_an_invoice_it_does_not_have(gateway: Gateway) -> None:
    payment = gateway.create()
    other_secret = secrets.token_urlsafe(24)
    added = gateway.http.post(
        "/admin/routes",
        json={
            "shop_id": secrets.randbelow(10**9) + 10**9,
            "provider": "cloudpayments",
            "merchant_account": f"pk_{secrets.token_hex(8)}",
            "credentials": {"api_secret": other_secret},
        },
    )
    assert added.status_code == 201, added.text

    answer = gateway.notify("pay", pay_fields(payment), secret=other_secret)

    assert answer.json() == {"code": notifications.UNKNOWN_INVOICE}
    assert gateway.payment(payment["id"])["status"] == "pending"


@pytest.mark.parametrize(
    "changes",
    [{"InvoiceId": "pay_\x00x"}, {"InvoiceId": "pay_" + "x" * 200}, {"Description": "Roses\x00"}],
    ids=["nul-invoice", "long-invoice", "nul-elsewhere"],
)
@pytest.mark.parametrize("fmt", [notifications.FORM, notifications.JSON])
def test_input_no_column_can_hold_is_a_400_never_a_500(gateway: Gateway, changes: dict[str, str], fmt: str) -> None:
    payment = gateway.create()

    answers = [gateway.notify(kind, pay_fields(payment, **changes), fmt=fmt) for kind in ("check", "pay")]

    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(400, "invalid_notification")] * 2
    assert gateway.payment(payment["id"])["status"] == "pending"


def test_check_answers_from_the_payment_as_it_is_once_its_row_lock_is_free(gateway: Gateway) -> None:
    """A Check racing a change (a Pay applied under the row lock) waits for it and answers 13, never 0."""
    if not gateway.settings.database_url.startswith("postgresql"):
        pytest.skip("row locks that make another connection wait are PostgreSQL's")
    payment = gateway.create()
    url = make_url(gateway.settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    answers: list[httpx.Response] = []
    with psycopg.connect(url) as locker:
        locker.execute("SELECT 1 FROM payments WHERE id = %s FOR UPDATE", (payment["id"],))
        locker.execute("UPDATE payments SET status = 'succeeded', version = version + 1 WHERE id = %s", (payment["id"],))
        check = threading.Thread(target=lambda: answers.append(gateway.notify("check", pay_fields(payment))))
        check.start()
        with psycopg.connect(url, autocommit=True) as watcher:
            deadline = time.monotonic() + 10
            while not watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s", ("%FOR UPDATE%",)
            ).fetchone():
                assert time.monotonic() < deadline, "the Check never waited for the row lock"
                time.sleep(0.01)
        assert answers == []  # still waiting for the change in flight
        locker.commit()
    check.join(timeout=10)

    assert [answer.json() for answer in answers] == [{"code": notifications.REJECTED}]
