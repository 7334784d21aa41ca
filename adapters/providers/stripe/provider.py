"""Stripe PaymentIntents on each seller's connected account: the `PaymentProvider` adapter.

Every call goes through the official SDK's async methods, on the seller's connected account (the
route's merchant account, sent as `Stripe-Account`). Every POST carries the gateway's own
idempotency key, so a retried call can never open a second PaymentIntent or refund twice. The SDK
never retries by itself: an unclear answer is reported as `ProviderUnavailable` and left to status
sync, the poller or a webhook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import stripe
from stripe.params import RefundListParams

from domain.capabilities import Capability
from domain.errors import InvalidValue
from domain.money import Money
from domain.payment import CARD_METHODS, PaymentMethod
from domain.refund import RefundStatus
from domain.seller_route import STRIPE, SellerRoute, check_merchant_account

from application.errors import ProviderDeclined, ProviderUnavailable
from application.ports import (
    PaymentAction,
    PaymentRequest,
    ProviderPayment,
    ProviderProfile,
    ProviderRefund,
    RefundLookup,
    RefundRequest,
)

from adapters.providers.stripe import wire
from adapters.providers.stripe.transport import HttpxTransport, StripeTransportError
from adapters.redaction import protect_http_client_loggers, redact_secrets

DEFAULT_API_URL = "https://api.stripe.com"
MAX_MESSAGE_CHARS = 500
# Currencies whose minor unit at Stripe is the one `domain.money` uses (JPY is zero-decimal at both).
CURRENCIES = frozenset({"USD", "EUR", "GBP", "KZT", "AED", "TRY", "JPY"})
# Stripe keeps an idempotency key's result for at least 24 h; less a margin for clocks and calls in flight.
IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=23)
REFUND_PAGE = 100  # Stripe's largest list page
MAX_REFUND_PAGES = 10

_T = TypeVar("_T")


class StripeProvider:
    """PaymentIntents with automatic payment methods, confirmed in the browser with the client secret."""

    profile = ProviderProfile(
        name=STRIPE,
        capabilities=frozenset(
            {
                Capability.CLIENT_SECRET,
                Capability.WALLETS,
                Capability.TWO_STEP,
                Capability.CANCEL,
                Capability.PARTIAL_REFUND,
                Capability.WEBHOOKS,
                Capability.REFUND_LOOKUP,
            }
        ),
        currencies=CURRENCIES,
        default_method=PaymentMethod.CARD,
        # The platform's secret key is a setting; a route names only the seller's connected account.
        credential_names=(),
        # Stripe never expires an unpaid PaymentIntent itself; a day matches its hosted Checkout.
        payment_lifetime=timedelta(hours=24),
        # The browser keeps the client secret: unless cancelled, the customer could still pay it.
        cancel_before_expiry=True,
    )

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        secret_key: str,
        base_url: str = DEFAULT_API_URL,
        timeout: float = 30.0,
    ) -> None:
        if not secret_key:
            raise ValueError("Stripe needs the platform's secret key")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        # With telemetry on, the SDK writes ~/.config/stripe/telemetry_id on the first call (blocking
        # file I/O on the event loop) and reports the host's platform to Stripe on every request.
        stripe.enable_telemetry = False
        protect_http_client_loggers()
        self._secret_key = secret_key
        self._base_url = base_url.rstrip("/")
        self._stripe = stripe.StripeClient(
            secret_key,
            http_client=HttpxTransport(client, timeout=timeout),
            base_addresses={"api": self._base_url},
            # A retry is the application's decision, made with the same idempotency key.
            max_network_retries=0,
        )

    def __repr__(self) -> str:
        return f"StripeProvider(base_url={self._base_url!r})"

    async def create_payment(self, request: PaymentRequest) -> ProviderPayment:
        if request.method not in CARD_METHODS:
            raise ProviderDeclined("unsupported_method", f"Stripe has no {request.method} payments here")
        if request.amount.currency not in CURRENCIES or not request.amount.is_positive():
            raise ProviderDeclined(
                "invalid_amount", f"a Stripe payment is a positive amount in {', '.join(sorted(CURRENCIES))}"
            )
        account = _connected_account(request.route.merchant_account)
        intent = await self._call(
            "create",
            lambda: self._stripe.v1.payment_intents.create_async(
                wire.create_params(request),
                {"stripe_account": account, "idempotency_key": request.idempotency_key},
            ),
        )
        return self._read("create", lambda: wire.read_payment_intent(intent, expected_amount=request.amount))

    async def fetch_payment(self, route: SellerRoute, external_id: str) -> ProviderPayment:
        account = _connected_account(route.merchant_account)
        _check_external_id(external_id)
        intent = await self._call(
            "status",
            # The Charge expanded, for the wallet that paid (`payment_method_details.card.wallet.type`).
            lambda: self._stripe.v1.payment_intents.retrieve_async(
                external_id, {"expand": ["latest_charge"]}, {"stripe_account": account}
            ),
        )
        return self._read("status", lambda: wire.read_payment_intent(intent, expected_id=external_id))

    async def capture(self, action: PaymentAction) -> ProviderPayment:
        account = _connected_account(action.route.merchant_account)
        _check_external_id(action.external_id)
        intent = await self._call(
            "capture",
            lambda: self._stripe.v1.payment_intents.capture_async(
                action.external_id,
                wire.capture_params(action.amount),
                {"stripe_account": account, "idempotency_key": action.idempotency_key},
            ),
        )
        return self._read("capture", lambda: wire.read_payment_intent(intent, expected_id=action.external_id))

    async def cancel(self, action: PaymentAction) -> ProviderPayment:
        account = _connected_account(action.route.merchant_account)
        _check_external_id(action.external_id)
        intent = await self._call(
            "cancel",
            lambda: self._stripe.v1.payment_intents.cancel_async(
                action.external_id, None, {"stripe_account": account, "idempotency_key": action.idempotency_key}
            ),
        )
        return self._read("cancel", lambda: wire.read_payment_intent(intent, expected_id=action.external_id))

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        # The account the payment was taken on, which is where the money has to come back from.
        account = _connected_account(request.merchant_account)
        _check_external_id(request.external_id)
        if not request.amount.is_positive():
            raise ProviderDeclined("invalid_amount", "a refund is a positive amount")
        answer = await self._create_refund(
            account, request.external_id, request.refund_id, request.amount, request.idempotency_key
        )
        if answer.status is RefundStatus.FAILED:
            # Stripe made the refund object but will not pay it out: no money moved.
            raise ProviderDeclined(answer.failure_code or "refund_failed", answer.failure_reason or "the refund failed")
        # `pending` / `requires_action` stay pending: Stripe's refund events or a later look settle them.
        return answer

    async def fetch_refund(self, lookup: RefundLookup) -> ProviderRefund | None:
        """By its id; without one (the create's answer was lost) among the PaymentIntent's refunds, by our metadata.

        Not among them while Stripe still honours the idempotency key (24 h): the create is repeated
        under the same key, which Stripe answers with what it did the first time, or does now what
        it never did — never a second refund. Past that, a refund Stripe does not list does not exist.
        """
        account = _connected_account(lookup.merchant_account)
        _check_external_id(lookup.payment_external_id)
        if lookup.external_id is not None:
            refund_id = lookup.external_id
            found = await self._call(
                "retrieve_refund",
                lambda: self._stripe.v1.refunds.retrieve_async(refund_id, None, {"stripe_account": account}),
            )
            observed = self._read("retrieve_refund", lambda: wire.read_refund(found))
            if observed.external_id != refund_id:
                raise ProviderUnavailable("stripe retrieve_refund: the answer is about another refund")
            return observed
        listed = await self._find_refund(account, lookup.payment_external_id, lookup.refund_id)
        if listed is not None:
            return listed
        if lookup.asked_at - lookup.created_at >= IDEMPOTENCY_KEY_LIFETIME:
            return None
        try:
            return await self._create_refund(
                account, lookup.payment_external_id, lookup.refund_id, lookup.amount, lookup.idempotency_key
            )
        except ProviderDeclined as declined:
            return ProviderRefund(
                None, status=RefundStatus.FAILED, failure_code=declined.code, failure_reason=declined.message
            )

    async def _create_refund(
        self, account: str, intent_id: str, refund_id: str, amount: Money, idempotency_key: str
    ) -> ProviderRefund:
        answer = await self._call(
            "refund",
            lambda: self._stripe.v1.refunds.create_async(
                wire.refund_params(external_id=intent_id, refund_id=refund_id, amount=amount),
                {"stripe_account": account, "idempotency_key": idempotency_key},
            ),
        )
        return self._read("refund", lambda: wire.read_refund(answer))

    async def _find_refund(self, account: str, intent_id: str, refund_id: str) -> ProviderRefund | None:
        """Our refund among the PaymentIntent's (`GET /v1/refunds?payment_intent=`), page by page."""
        params: RefundListParams = {"payment_intent": intent_id, "limit": REFUND_PAGE}
        options: stripe.RequestOptions = {"stripe_account": account}
        for _ in range(MAX_REFUND_PAGES):
            page = await self._call(
                "list_refunds", lambda: self._stripe.v1.refunds.list_async(params, options)  # noqa: B023 - called at once
            )
            items, has_more = self._read("list_refunds", lambda: wire.read_refund_list(page))  # noqa: B023 - called at once
            for item in items:
                if wire.refund_paygate_id(item) == refund_id:
                    return self._read("list_refunds", lambda: wire.read_refund(item))  # noqa: B023 - called at once
            if not has_more or not items:
                return None
            last_id = items[-1].get("id")
            if not isinstance(last_id, str):
                raise ProviderUnavailable("stripe list_refunds: a refund without an id")
            params = {**params, "starting_after": last_id}
        raise ProviderUnavailable("stripe list_refunds: too many refunds to search for ours")

    async def _call(self, operation: str, call: Callable[[], Awaitable[stripe.StripeObject]]) -> dict[str, Any]:
        """One SDK call, its answer as plain JSON data; every failure translated into a port error."""
        failure: ProviderDeclined | ProviderUnavailable
        try:
            answer = await call()
        except stripe.StripeError as error:
            failure = self._translate(operation, error)
        else:
            if isinstance(answer, stripe.StripeObject):
                return answer.to_dict()
            failure = ProviderUnavailable(f"stripe {operation}: the answer is not a Stripe object")
        # Raised outside the except block, so the SDK's exception (with its HTTP body) stays behind.
        raise failure

    def _read(self, operation: str, read: Callable[[], _T]) -> _T:
        try:
            return read()
        except wire.Unreadable as unreadable:
            reason = f"stripe {operation}: {unreadable}"
        raise ProviderUnavailable(reason)

    def _translate(self, operation: str, error: stripe.StripeError) -> ProviderDeclined | ProviderUnavailable:
        where = f"stripe {operation}"
        if isinstance(error, StripeTransportError):
            return ProviderUnavailable(f"{where}: {error.user_message}", timed_out=error.timed_out)
        if isinstance(error, (stripe.CardError, stripe.InvalidRequestError)):
            # A definite no to this request: a bad parameter, a payment in the wrong state, a card decline.
            return ProviderDeclined(error.code or "invalid_request", self._message(error))
        if isinstance(error, stripe.AuthenticationError):
            return ProviderDeclined("authentication_failed", "Stripe refused the platform's secret key")
        if isinstance(error, stripe.PermissionError):
            return ProviderDeclined("permission_denied", "the platform has no access to the seller's connected account")
        # A 5xx, a 409 (the same key still running), a 429, an idempotency conflict (an earlier request
        # under this key happened, with an outcome we cannot see here), an unreadable body: unknown.
        request_id = f", request {error.request_id}" if error.request_id else ""
        status = f"HTTP {error.http_status}" if error.http_status else "no HTTP status"
        return ProviderUnavailable(f"{where}: {type(error).__name__} ({status}{request_id})")

    def _message(self, error: stripe.StripeError) -> str:
        message = error.user_message or type(error).__name__
        if error.request_id:
            message = f"{message} (request {error.request_id})"
        return redact_secrets(message, [self._secret_key])[:MAX_MESSAGE_CHARS]


def _connected_account(merchant_account: str) -> str:
    try:
        return check_merchant_account(STRIPE, merchant_account)
    except InvalidValue as invalid:
        # Refused before any call: the value would otherwise go into a request header.
        raise ProviderDeclined("invalid_merchant_account", invalid.message) from None


def _check_external_id(external_id: str) -> None:
    if not external_id or not external_id.startswith("pi_"):
        raise ProviderDeclined("missing_external_id", "the payment has no Stripe PaymentIntent id")
