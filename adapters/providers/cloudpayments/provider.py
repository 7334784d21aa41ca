"""CloudPayments over its JSON API: the `PaymentProvider` adapter.

Identifiers: our payment id is sent as the order's `InvoiceId` and is also the payment's external id.
CloudPayments keys transactions (each attempt to pay) by that InvoiceId, in the answer of
`payments/find` and in every notification, so one id finds the payment from either side. The order's
own id only lives in the payment link (its last segment, as CloudPayments forms the link), which is how
`orders/cancel` finds it. Refunds, capture and void need the paying transaction's `TransactionId`, which
`payments/find` gives.

Status: `payments/find` answers the invoice's latest transaction. A `Declined` one is one attempt, not the
payment's end: the order stays payable and the customer may retry, so it is reported as pending with the
decline (`DeclinedAttempt`); a later attempt's `Completed` settles it. What closes an unpaid order is its
cancellation (`cancel` of a payment nobody paid, which the poller calls before the payment expires).

Idempotency: every POST carries `X-Request-ID` (CloudPayments replays the first answer to a repeated
id, whatever the method): the payment id for `orders/create`, the refund id for a refund, the
action's key for confirm and void (the application makes it per operation, so a capture and a void of
one payment never share one). `payments/find` is a read: each carries a new id, since a repeated one
would be answered with a stale status.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import httpx

from domain.errors import InvalidValue
from domain.money import Money
from domain.payment import PaymentMethod, PaymentStatus
from domain.seller_route import SellerRoute

from application.errors import ProviderDeclined, ProviderUnavailable
from application.ports import (
    Capability,
    DeclinedAttempt,
    PaymentAction,
    PaymentRequest,
    ProviderPayment,
    ProviderProfile,
    ProviderRefund,
    RefundRequest,
)

from adapters.logs import get_logger
from adapters.providers.cloudpayments import wire
from adapters.providers.no_refund_lookup import NoRefundLookup
from adapters.redaction import protect_http_client_loggers, redact_secrets

logger = get_logger("paygate.providers.cloudpayments")

NAME = "cloudpayments"
API_SECRET = "api_secret"  # the route credential; the route's merchant account is the site's public id
DEFAULT_API_URL = "https://api.cloudpayments.ru"
CURRENCIES = frozenset({"RUB", "KZT", "USD", "EUR", "GBP", "BYN", "UZS", "TRY", "CNY"})
REQUEST_ID_HEADER = "X-Request-ID"
MAX_DESCRIPTION = 255

_T = TypeVar("_T")


class CloudPaymentsProvider(NoRefundLookup):
    """Payment links through `orders/create`; one- or two-step (RequireConfirmation) as the request asks."""

    profile = ProviderProfile(
        name=NAME,
        capabilities=frozenset(
            {
                Capability.PAYMENT_LINK,
                Capability.TWO_STEP,
                Capability.CANCEL,  # a void of an authorised two-step payment
                Capability.PARTIAL_REFUND,
                Capability.WEBHOOKS,
            }
        ),
        currencies=CURRENCIES,
        default_method=PaymentMethod.LINK,
        credential_names=(API_SECRET,),
        # An order stays payable at CloudPayments until it is cancelled there: past this lifetime the
        # poller cancels it (orders/cancel) before the payment may expire here.
        payment_lifetime=timedelta(hours=24),
        cancel_before_expiry=True,
    )

    def __init__(self, *, client: httpx.AsyncClient, base_url: str = DEFAULT_API_URL, timeout: float = 15.0) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        protect_http_client_loggers()

    def __repr__(self) -> str:
        return f"CloudPaymentsProvider(base_url={self._base_url!r})"

    # --- The port ---------------------------------------------------------------------------------

    async def create_payment(self, request: PaymentRequest) -> ProviderPayment:
        if request.method is not PaymentMethod.LINK:
            raise ProviderDeclined(
                "unsupported_method", f"CloudPayments takes payment links here, not {request.method}"
            )
        if request.amount.currency not in CURRENCIES or not request.amount.is_positive():
            raise ProviderDeclined("invalid_amount", f"a CloudPayments payment is a positive amount in {_currencies()}")
        body: dict[str, Any] = {
            "Amount": wire.amount(request.amount),
            "Currency": request.amount.currency,
            "Description": request.description[:MAX_DESCRIPTION] or f"Payment {request.payment_id}",
            "InvoiceId": request.payment_id,
        }
        if request.customer_id:
            body["AccountId"] = request.customer_id
        if request.manual_capture:
            body["RequireConfirmation"] = True
        envelope = await self._call("create", "/orders/create", body, request.route, request_id=request.idempotency_key)
        if not envelope.success:
            raise self._declined("create", wire.refusal(envelope), request.route)
        order = self._read("create", lambda: wire.read_order(envelope), request.route)
        logger.info("cloudpayments_order_opened", order_id=order.order_id, payment_id=request.payment_id)
        return ProviderPayment(
            external_id=request.payment_id,
            provider_status=wire.ORDER_CREATED,
            outcome=PaymentStatus.PENDING,
            payment_link=order.url,
        )

    async def fetch_payment(self, route: SellerRoute, external_id: str) -> ProviderPayment:
        transaction = await self._find(route, external_id)
        if transaction is None:
            return ProviderPayment(
                external_id=external_id, provider_status=wire.ORDER_CREATED, outcome=PaymentStatus.PENDING
            )
        return ProviderPayment(
            external_id=external_id,
            provider_status=transaction.status,
            outcome=wire.payment_status(transaction.status),
            declined_attempt=_declined_attempt(transaction),
            amount=_money(transaction),
        )

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        if request.amount.currency not in CURRENCIES or not request.amount.is_positive():
            raise ProviderDeclined("invalid_amount", f"a CloudPayments refund is a positive amount in {_currencies()}")
        paid = await self._paying_transaction(request.route, request.external_id, wire.COMPLETED, "refund")
        envelope = await self._call(
            "refund",
            "/payments/refund",
            {"TransactionId": int(paid.transaction_id), "Amount": wire.amount(request.amount)},
            request.route,
            request_id=request.idempotency_key,
        )
        if not envelope.success:
            raise self._declined("refund", wire.refusal(envelope), request.route)
        return ProviderRefund(external_id=wire.read_refund(envelope))

    async def capture(self, action: PaymentAction) -> ProviderPayment:
        held = await self._paying_transaction(action.route, action.external_id, wire.AUTHORIZED, "capture")
        envelope = await self._call(
            "confirm",
            "/payments/confirm",
            {"TransactionId": int(held.transaction_id), "Amount": wire.amount(action.amount)},
            action.route,
            request_id=action.idempotency_key,
        )
        if not envelope.success:
            raise self._declined("confirm", wire.refusal(envelope), action.route)
        return ProviderPayment(
            external_id=action.external_id, provider_status=wire.COMPLETED, outcome=PaymentStatus.SUCCEEDED
        )

    async def cancel(self, action: PaymentAction) -> ProviderPayment:
        """A held payment is voided; an order nobody has paid (or whose attempts were declined) is cancelled."""
        latest = await self._latest_for_action(action.route, action.external_id, "cancel")
        if latest is None or latest.status == wire.DECLINED:
            return await self._cancel_order(action)
        held = self._require(latest, wire.AUTHORIZED, "cancel")
        envelope = await self._call(
            "void",
            "/payments/void",
            {"TransactionId": int(held.transaction_id)},
            action.route,
            request_id=action.idempotency_key,
        )
        if not envelope.success:
            raise self._declined("void", wire.refusal(envelope), action.route)
        return ProviderPayment(
            external_id=action.external_id, provider_status=wire.CANCELLED, outcome=PaymentStatus.CANCELLED
        )

    # --- Steps ------------------------------------------------------------------------------------

    async def _find(self, route: SellerRoute, invoice_id: str) -> wire.Transaction | None:
        """The latest transaction of our invoice, or None when nobody has tried to pay it yet."""
        if not invoice_id.strip():
            raise ProviderDeclined("missing_external_id", "the payment has no CloudPayments InvoiceId")
        # A read carries a fresh request id (CloudPayments support can trace it), never a reused one.
        request_id = f"find-{uuid.uuid4().hex}"
        envelope = await self._call("find", "/payments/find", {"InvoiceId": invoice_id}, route, request_id=request_id)
        if wire.is_not_found(envelope):
            return None
        if not envelope.success and not wire.carries_transaction(envelope):
            raise self._declined("find", wire.refusal(envelope), route)
        # A declined attempt may come back as Success=false with its transaction: that is an answer too.
        transaction = self._read("find", lambda: wire.read_transaction(envelope.model), route)
        if transaction.invoice_id is not None and transaction.invoice_id != invoice_id:
            raise self._unknown("find", "CloudPayments answered about another invoice", route)
        return transaction

    async def _cancel_order(self, action: PaymentAction) -> ProviderPayment:
        """orders/cancel: after it, the link takes no payment (a paid order refuses it: a definite no)."""
        order_id = wire.order_id_of(action.payment_link)
        if order_id is None:
            raise ProviderDeclined("order_unknown", "the payment's link does not name a CloudPayments order")
        envelope = await self._call(
            "cancel_order", "/orders/cancel", {"Id": order_id}, action.route, request_id=action.idempotency_key
        )
        if not envelope.success:
            raise self._declined("cancel_order", wire.refusal(envelope), action.route)
        return ProviderPayment(
            external_id=action.external_id, provider_status=wire.CANCELLED, outcome=PaymentStatus.CANCELLED
        )

    async def _latest_for_action(self, route: SellerRoute, invoice_id: str, operation: str) -> wire.Transaction | None:
        """The latest transaction before an operation; a failed lookup means nothing was sent: a definite no."""
        try:
            return await self._find(route, invoice_id)
        except ProviderUnavailable as unknown:
            raise ProviderDeclined(
                "transaction_lookup_failed",
                f"the paying transaction could not be looked up ({unknown.reason}); no {operation} was sent",
            ) from None

    async def _paying_transaction(
        self, route: SellerRoute, invoice_id: str, required_status: str, operation: str
    ) -> wire.Transaction:
        """The transaction an operation acts on; any failure here means nothing was sent, hence a definite no."""
        transaction = await self._latest_for_action(route, invoice_id, operation)
        return self._require(transaction, required_status, operation)

    @staticmethod
    def _require(transaction: wire.Transaction | None, required_status: str, operation: str) -> wire.Transaction:
        if transaction is None or transaction.status != required_status:
            found = "no transaction" if transaction is None else f"its transaction is {transaction.status}"
            raise ProviderDeclined(
                f"not_{required_status.lower()}", f"a {operation} needs a {required_status} transaction; {found}"
            )
        return transaction

    async def _call(
        self, operation: str, path: str, body: Mapping[str, Any], route: SellerRoute, *, request_id: str
    ) -> wire.Envelope:
        """One POST, translated into an envelope or a port error; logged once, never retried."""
        secret = _api_secret(route)
        headers = {"Content-Type": "application/json", "Accept": "application/json", REQUEST_ID_HEADER: request_id}
        failure: ProviderDeclined | ProviderUnavailable | None = None
        http_status: int | None = None
        envelope: wire.Envelope | None = None
        started = time.perf_counter()
        try:
            response = await self._client.post(
                f"{self._base_url}{path}",
                content=wire.encode(body),
                headers=headers,
                auth=httpx.BasicAuth(route.merchant_account, secret),
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            failure = ProviderUnavailable(
                f"cloudpayments {operation}: no answer within {self._timeout:g} s", timed_out=True
            )
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            failure = ProviderUnavailable(f"cloudpayments {operation}: {type(error).__name__}")
        except BaseException:
            self._log(operation, path, None, started, "cancelled", logging.WARNING)
            raise
        else:
            http_status = response.status_code
            try:
                envelope = wire.read_envelope(http_status, response.content)
            except wire.CloudPaymentsDeclined as refusal:
                failure = ProviderDeclined(refusal.code, redact_secrets(refusal.message, [secret]))
            except wire.CloudPaymentsOutcomeUnknown as unknown:
                failure = ProviderUnavailable(f"cloudpayments {operation}: {redact_secrets(unknown.reason, [secret])}")
        if failure is None:
            assert envelope is not None
            self._log(
                operation, path, http_status, started, "ok" if envelope.success else "success=false", logging.DEBUG
            )
            return envelope
        if isinstance(failure, ProviderDeclined):
            outcome = f"declined {failure}"
        else:
            outcome = "timeout" if failure.timed_out else f"unavailable: {failure.reason}"
        self._log(operation, path, http_status, started, outcome, logging.WARNING)
        # Raised outside the except blocks, so no httpx exception rides along as __context__.
        raise failure

    def _read(self, operation: str, read: Callable[[], _T], route: SellerRoute) -> _T:
        try:
            return read()
        except wire.CloudPaymentsOutcomeUnknown as unknown:
            raise self._unknown(operation, unknown.reason, route) from None

    def _declined(self, operation: str, refusal: wire.CloudPaymentsDeclined, route: SellerRoute) -> ProviderDeclined:
        logger.warning(
            "cloudpayments_refused",
            operation=operation,
            reason=redact_secrets(str(refusal), route.credentials.secrets()),
        )
        return ProviderDeclined(refusal.code, redact_secrets(refusal.message, route.credentials.secrets()))

    def _unknown(self, operation: str, reason: str, route: SellerRoute) -> ProviderUnavailable:
        reason = redact_secrets(reason, route.credentials.secrets())
        logger.warning("cloudpayments_outcome_unknown", operation=operation, reason=reason)
        return ProviderUnavailable(f"cloudpayments {operation}: {reason}")

    def _log(
        self, operation: str, path: str, http_status: int | None, started: float, outcome: str, level: int
    ) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000)
        logger.log(
            level,
            "cloudpayments_exchange",
            provider=NAME,
            operation=operation,
            path=path,
            http_status=http_status,
            duration_ms=duration_ms,
            outcome=outcome,
        )


def _api_secret(route: SellerRoute) -> str:
    secret = route.credentials.get(API_SECRET)
    if not secret:
        # Refused before any call: nothing reached CloudPayments.
        raise ProviderDeclined("missing_api_secret", f"shop {route.shop_id} has no CloudPayments API secret")
    return secret


def _declined_attempt(transaction: wire.Transaction) -> DeclinedAttempt | None:
    if transaction.status != wire.DECLINED:
        return None
    code = f"reason_{transaction.reason_code}" if transaction.reason_code else "declined"
    return DeclinedAttempt(transaction.transaction_id, code, transaction.reason or "declined by the bank")


def _money(transaction: wire.Transaction) -> Money | None:
    if transaction.amount is None or transaction.currency is None:
        return None
    try:
        return Money.from_major(transaction.amount, transaction.currency)
    except InvalidValue:
        return None


def _currencies() -> str:
    return ", ".join(sorted(CURRENCIES))
