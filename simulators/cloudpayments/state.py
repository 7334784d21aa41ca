"""The simulated CloudPayments' memory: sites, orders, transactions, replies to request ids, fault knobs, logs."""

from __future__ import annotations

import hmac
import random
import string
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs

from simulators.base import FaultKnobs, SimulatorState
from simulators.cloudpayments import wire

OPERATIONS = ("create", "cancel_order", "find", "refund", "confirm", "void")
FAULTS = ("none", "timeout", "http_500", "http_502", "garbage")

ORDER_OPEN = "Created"
ORDER_PAID = "Paid"
ORDER_CANCELLED = "Cancelled"
# What a CloudPayments test terminal answers for an approved card (AuthCode, the card's expiry).
TEST_AUTH_CODE = "A1B2C3"
TEST_CARD_EXPIRY = "12/30"
# ISO 4217 numeric codes of the currencies the simulator takes (the Model's CurrencyCode).
CURRENCY_CODES = {
    "RUB": 643, "KZT": 398, "USD": 840, "EUR": 978, "GBP": 826, "BYN": 933, "UZS": 860, "TRY": 949, "CNY": 156,
}
# The Model's StatusCode for each transaction status.
STATUS_CODES = {
    wire.AWAITING_AUTHENTICATION: 1, wire.AUTHORIZED: 2, wire.COMPLETED: 3, wire.CANCELLED: 4, wire.DECLINED: 5,
}

# Reasons the simulator gives (CloudPayments' own codes for the common cases).
APPROVED = ("Approved", 0)
INSUFFICIENT_FUNDS = ("InsufficientFunds", 5051)
REJECTED_BY_MERCHANT = ("Rejected by the merchant's Check", 5206)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class Knobs(FaultKnobs):
    """How the simulated API misbehaves: the shared knobs, over CloudPayments' operations and faults."""

    FAULTS = FAULTS
    OPERATIONS = OPERATIONS


@attrs.frozen
class RecordedRequest:
    """One API call as received; the Authorization header is masked."""

    operation: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def as_json(self) -> dict[str, Any]:
        body = self.body.decode("utf-8", "replace")
        return {"operation": self.operation, "headers": dict(self.headers), "body": body}


@attrs.frozen
class Delivery:
    """One notification sent to the merchant and how it was answered."""

    kind: str
    url: str
    invoice_id: str | None
    status_code: int | None
    code: int | None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class Site:
    public_id: str
    api_secret: str = attrs.field(repr=False)
    notification_url: str | None = None
    notification_format: str = wire.FORM

    def view(self) -> dict[str, Any]:
        """What a caller may see; the API secret stays out."""
        return {
            "public_id": self.public_id,
            "notification_url": self.notification_url,
            "notification_format": self.notification_format,
        }


@attrs.define
class SimulatedTransaction:
    transaction_id: int
    public_id: str
    order_id: str
    invoice_id: str | None
    account_id: str | None
    amount: Decimal
    currency: str
    description: str
    status: str
    reason: str
    reason_code: int
    created_at: datetime
    refunds: list[tuple[int, Decimal]] = attrs.field(factory=list)
    authorized_at: datetime | None = None

    @property
    def refunded(self) -> Decimal:
        return sum((amount for _, amount in self.refunds), Decimal(0))

    def model(self) -> dict[str, Any]:
        """The transaction as payments/find and the notifications describe it.

        An authorised one carries what a successful payment's Model has (AuthCode, AuthDate, ...).
        """
        authorized: dict[str, Any] = {}
        if self.authorized_at is not None:
            authorized = {
                "AuthCode": TEST_AUTH_CODE,
                "AuthDate": f"/Date({int(self.authorized_at.timestamp() * 1000)})/",
                "AuthDateIso": self.authorized_at.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        return {
            "TransactionId": self.transaction_id,
            "PublicId": self.public_id,
            "Amount": self.amount,
            "Currency": self.currency,
            "CurrencyCode": CURRENCY_CODES.get(self.currency, 0),
            "InvoiceId": self.invoice_id,
            "AccountId": self.account_id,
            "Description": self.description,
            "CreatedDateIso": self.created_at.strftime("%Y-%m-%dT%H:%M:%S"),
            "TestMode": True,
            "CardFirstSix": "424242",
            "CardLastFour": "4242",
            "CardExpDate": TEST_CARD_EXPIRY,
            "CardType": "Visa",
            "Status": self.status,
            "StatusCode": STATUS_CODES.get(self.status, 0),
            "Reason": self.reason,
            "ReasonCode": self.reason_code,
            "RefundAmount": self.refunded,
            **authorized,
        }

    def view(self) -> dict[str, Any]:
        return {
            **self.model(),
            "Refunds": [{"TransactionId": t, "Amount": amount} for t, amount in self.refunds],
        }


@attrs.define
class SimulatedOrder:
    order_id: str
    number: int
    public_id: str
    amount: Decimal
    currency: str
    description: str
    invoice_id: str | None
    account_id: str | None
    require_confirmation: bool
    url: str
    created_at: datetime
    status: str = ORDER_OPEN
    transactions: list[int] = attrs.field(factory=list)

    def model(self) -> dict[str, Any]:
        """orders/create's Model."""
        return {
            "Id": self.order_id,
            "Number": self.number,
            "Amount": self.amount,
            "Currency": self.currency,
            "Description": self.description,
            "InvoiceId": self.invoice_id,
            "AccountId": self.account_id,
            "RequireConfirmation": self.require_confirmation,
            "Url": self.url,
            "CreatedDateIso": self.created_at.strftime("%Y-%m-%dT%H:%M:%S"),
            "Status": self.status,
        }


class UnknownOrder(LookupError):
    pass


class OrderClosed(ValueError):
    pass


@attrs.frozen
class Attempt:
    """A customer's attempt on an order page: the transaction it made and the notifications it sent."""

    order: dict[str, Any]
    transaction: dict[str, Any]
    notifications: list[dict[str, Any]]


class CloudPaymentsSimulatorState(SimulatorState[Knobs, RecordedRequest]):
    """The simulated CloudPayments' memory: sites, orders, transactions, replies and notifications sent,
    on the shared knobs and request log."""

    def __init__(
        self,
        *,
        latency_ms: int = 0,
        hang_seconds: float = 60.0,
        default_notification_url: str | None = None,
        notification_timeout: float = 10.0,
        enrol_on_first_use: bool = False,
        clock: Callable[[], datetime] = _utc_now,
        seed: int | None = None,
    ) -> None:
        super().__init__(knobs=Knobs(latency_ms=latency_ms), hang_seconds=hang_seconds)
        self.notification_timeout = notification_timeout
        # Where a site registered without a notification URL sends them (the gateway's own endpoint).
        self.default_notification_url = default_notification_url
        # A demo convenience: an unknown public id becomes a site with the secret of its first call.
        self.enrol_on_first_use = enrol_on_first_use
        self._clock = clock
        self._random = random.Random(seed)
        self._sites: dict[str, Site] = {}
        self._orders: dict[str, SimulatedOrder] = {}
        self._transactions: dict[int, SimulatedTransaction] = {}
        self._replies: dict[tuple[str, str], tuple[int, bytes]] = {}
        self._deliveries: list[Delivery] = []
        self._next_number = 1

    def _forget(self) -> None:
        # Sites stay registered.
        self._orders.clear()
        self._transactions.clear()
        self._replies.clear()
        self._deliveries.clear()

    def now(self) -> datetime:
        return self._clock()

    # --- Sites ------------------------------------------------------------------------------------

    def add_site(
        self,
        public_id: str,
        api_secret: str,
        *,
        notification_url: str | None = None,
        notification_format: str = wire.FORM,
    ) -> Site:
        if not public_id or not api_secret:
            raise ValueError("a site needs a public id and an API secret")
        if notification_format not in (wire.FORM, wire.JSON):
            raise ValueError(f"notification_format must be {wire.FORM} or {wire.JSON}")
        if notification_url is not None and not notification_url.startswith(("http://", "https://")):
            raise ValueError("notification_url must be an http(s) URL")
        site = Site(
            public_id=public_id,
            api_secret=api_secret,
            notification_url=notification_url.rstrip("/") if notification_url else self._default_url(),
            notification_format=notification_format,
        )
        with self._lock:
            self._sites[public_id] = site
        return attrs.evolve(site)

    def authenticate(self, public_id: str, api_secret: str) -> bool:
        with self._lock:
            site = self._sites.get(public_id)
            if site is None and self.enrol_on_first_use and public_id and api_secret:
                site = self._sites[public_id] = Site(
                    public_id=public_id, api_secret=api_secret, notification_url=self._default_url()
                )
        # Compared even for an unknown site, so the time taken does not say which public ids exist.
        expected = (site.api_secret if site else "\0unknown").encode()
        return hmac.compare_digest(api_secret.encode(), expected) and site is not None

    def _default_url(self) -> str | None:
        return self.default_notification_url.rstrip("/") if self.default_notification_url else None

    def site(self, public_id: str) -> Site | None:
        with self._lock:
            found = self._sites.get(public_id)
            return attrs.evolve(found) if found else None

    # --- Replies and notifications sent ------------------------------------------------------------

    def reply_for(self, public_id: str, request_id: str) -> tuple[int, bytes] | None:
        with self._lock:
            return self._replies.get((public_id, request_id))

    def keep_reply(self, public_id: str, request_id: str, reply: tuple[int, bytes]) -> None:
        with self._lock:
            self._replies.setdefault((public_id, request_id), reply)

    def record_delivery(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)
            self._lock.notify_all()

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def wait_for_deliveries(self, count: int, *, timeout: float = 5.0) -> bool:
        """Block until `count` notifications went out (those after an API call go out in the background)."""
        return self._wait_until(lambda: len(self._deliveries) >= count, timeout)

    # --- Orders and transactions ------------------------------------------------------------------

    def create_order(
        self,
        *,
        public_id: str,
        amount: Decimal,
        currency: str,
        description: str,
        invoice_id: str | None,
        account_id: str | None,
        require_confirmation: bool,
        page_url: Callable[[str], str],
    ) -> SimulatedOrder:
        with self._lock:
            order_id = self._new_order_id()
            order = SimulatedOrder(
                order_id=order_id,
                number=self._next_number,
                public_id=public_id,
                amount=amount,
                currency=currency,
                description=description,
                invoice_id=invoice_id,
                account_id=account_id,
                require_confirmation=require_confirmation,
                url=page_url(order_id),
                created_at=self._clock(),
            )
            self._next_number += 1
            self._orders[order_id] = order
            return attrs.evolve(order, transactions=list(order.transactions))

    def order(self, order_id: str) -> SimulatedOrder | None:
        with self._lock:
            found = self._orders.get(order_id)
            return attrs.evolve(found, transactions=list(found.transactions)) if found else None

    def orders(self, *, invoice_id: str | None = None) -> list[SimulatedOrder]:
        with self._lock:
            return [
                attrs.evolve(o, transactions=list(o.transactions))
                for o in self._orders.values()
                if invoice_id is None or o.invoice_id == invoice_id
            ]

    def order_for_invoice(self, invoice_id: str) -> SimulatedOrder:
        found = self.orders(invoice_id=invoice_id)
        if not found:
            raise UnknownOrder(invoice_id)
        return found[-1]

    def view(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return None
            return {
                **order.model(),
                "PublicId": order.public_id,
                "Transactions": [self._transactions[t].view() for t in order.transactions],
            }

    def transaction(self, transaction_id: int) -> SimulatedTransaction | None:
        with self._lock:
            found = self._transactions.get(transaction_id)
            return attrs.evolve(found, refunds=list(found.refunds)) if found else None

    def latest_for_invoice(self, public_id: str, invoice_id: str) -> SimulatedTransaction | None:
        with self._lock:
            matching = [
                t for t in self._transactions.values() if t.public_id == public_id and t.invoice_id == invoice_id
            ]
            return attrs.evolve(matching[-1], refunds=list(matching[-1].refunds)) if matching else None

    def begin_attempt(self, order_id: str) -> SimulatedTransaction:
        """The customer submitted the order page: a transaction awaiting the bank's answer."""
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                raise UnknownOrder(order_id)
            if order.status != ORDER_OPEN:
                raise OrderClosed(f"order {order_id} is {order.status}")
            transaction = SimulatedTransaction(
                transaction_id=self._new_transaction_id(),
                public_id=order.public_id,
                order_id=order.order_id,
                invoice_id=order.invoice_id,
                account_id=order.account_id,
                amount=order.amount,
                currency=order.currency,
                description=order.description,
                status=wire.AWAITING_AUTHENTICATION,
                reason="",
                reason_code=0,
                created_at=self._clock(),
            )
            self._transactions[transaction.transaction_id] = transaction
            order.transactions.append(transaction.transaction_id)
            return attrs.evolve(transaction)

    def finish_attempt(
        self, transaction_id: int, *, approved: bool, reason: tuple[str, int] = APPROVED
    ) -> SimulatedTransaction:
        """The bank answered: paid (held, for a two-step order) or declined; a paid order closes."""
        with self._lock:
            transaction = self._transactions[transaction_id]
            order = self._orders[transaction.order_id]
            if approved:
                transaction.status = wire.AUTHORIZED if order.require_confirmation else wire.COMPLETED
                transaction.authorized_at = self._clock()
                order.status = ORDER_PAID
            else:
                transaction.status = wire.DECLINED
            transaction.reason, transaction.reason_code = reason
            return attrs.evolve(transaction, refunds=list(transaction.refunds))

    def pay(self, order_id: str) -> SimulatedTransaction:
        """The customer paid, without notifications (the HTTP controls and the order page send them)."""
        return self.finish_attempt(self.begin_attempt(order_id).transaction_id, approved=True)

    def decline(self, order_id: str) -> SimulatedTransaction:
        """The customer's bank declined, without notifications."""
        return self.finish_attempt(
            self.begin_attempt(order_id).transaction_id, approved=False, reason=INSUFFICIENT_FUNDS
        )

    def cancel_order(self, public_id: str, order_id: str) -> str | None:
        """orders/cancel: None when cancelled (the link takes no more payments), else why it was refused."""
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or order.public_id != public_id:
                return "Order not found"
            if order.status == ORDER_PAID:
                return "The order is paid and cannot be cancelled"
            order.status = ORDER_CANCELLED
            return None

    def refund(self, public_id: str, transaction_id: int, amount: Decimal) -> int | str:
        """The refund's TransactionId, or why it was refused."""
        with self._lock:
            transaction = self._transactions.get(transaction_id)
            if transaction is None or transaction.public_id != public_id:
                return "Transaction not found"
            if transaction.status != wire.COMPLETED:
                return f"Transaction is {transaction.status}: only a completed payment can be refunded"
            if amount > transaction.amount - transaction.refunded:
                return "Refund amount exceeds the remaining amount of the payment"
            refund_id = self._new_transaction_id()
            transaction.refunds.append((refund_id, amount))
            return refund_id

    def confirm(self, public_id: str, transaction_id: int, amount: Decimal) -> SimulatedTransaction | str:
        with self._lock:
            transaction = self._transactions.get(transaction_id)
            if transaction is None or transaction.public_id != public_id:
                return "Transaction not found"
            if transaction.status != wire.AUTHORIZED:
                return f"Transaction is {transaction.status}: only an authorized payment can be confirmed"
            if amount > transaction.amount:
                return "Confirm amount exceeds the authorized amount"
            transaction.amount = amount
            transaction.status = wire.COMPLETED
            return attrs.evolve(transaction, refunds=list(transaction.refunds))

    def void(self, public_id: str, transaction_id: int) -> SimulatedTransaction | str:
        with self._lock:
            transaction = self._transactions.get(transaction_id)
            if transaction is None or transaction.public_id != public_id:
                return "Transaction not found"
            if transaction.status != wire.AUTHORIZED:
                return f"Transaction is {transaction.status}: only an authorized payment can be voided"
            transaction.status = wire.CANCELLED
            return attrs.evolve(transaction, refunds=list(transaction.refunds))

    def _new_order_id(self) -> str:
        alphabet = string.ascii_letters + string.digits
        while True:
            candidate = "".join(self._random.choice(alphabet) for _ in range(16))
            if candidate not in self._orders:
                return candidate

    def _new_transaction_id(self) -> int:
        while True:
            candidate = self._random.randrange(10**8, 10**9)
            if candidate not in self._transactions and all(
                candidate != r for t in self._transactions.values() for r, _ in t.refunds
            ):
                return candidate
