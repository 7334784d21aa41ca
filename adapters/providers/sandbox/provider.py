"""The sandbox provider: the smallest complete `PaymentProvider`, over the in-process sandbox gateway.

What every adapter does, in a few lines each: say what the provider can do (`profile`), map our
requests to the provider's and its statuses to ours, send our idempotency key on every write, and
translate every failure into `ProviderDeclined` (a definite no) or `ProviderUnavailable` (unknown:
here, no answer within the timeout). Nothing secret reaches a log line or an error message.
The sandbox's API is declared in `wire.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import anyio

from domain.payment import PaymentMethod, PaymentStatus
from domain.seller_route import SellerRoute

from application.errors import ProviderDeclined, ProviderUnavailable
from application.ports import (
    Capability,
    PaymentAction,
    PaymentRequest,
    ProviderPayment,
    ProviderProfile,
    ProviderRefund,
    RefundRequest,
)

from adapters.logs import get_logger
from adapters.providers.no_refund_lookup import NoRefundLookup
from adapters.providers.sandbox import wire
from adapters.providers.sandbox.wire import SandboxApi, SandboxPayment, SandboxRefusal, SandboxUnavailable

logger = get_logger("paygate.providers.sandbox")

NAME = "sandbox"
SECRET_KEY = "secret_key"  # the route credential the sandbox checks, as a real provider's API key

_T = TypeVar("_T")

_OUTCOMES = {
    wire.PENDING: PaymentStatus.PENDING,
    wire.AUTHORIZED: PaymentStatus.AUTHORIZED,
    wire.SUCCEEDED: PaymentStatus.SUCCEEDED,
    wire.FAILED: PaymentStatus.FAILED,
    wire.CANCELLED: PaymentStatus.CANCELLED,
    wire.EXPIRED: PaymentStatus.EXPIRED,
}


class SandboxProvider(NoRefundLookup):
    profile = ProviderProfile(
        name=NAME,
        capabilities=frozenset(
            {
                Capability.CLIENT_SECRET,
                Capability.PAYMENT_LINK,
                Capability.REDIRECT_CHECKOUT,
                Capability.TWO_STEP,
                Capability.CANCEL,
                Capability.PARTIAL_REFUND,
            }
        ),
        currencies=frozenset({"KZT", "RUB", "USD", "EUR"}),
        default_method=PaymentMethod.CARD,
        credential_names=(SECRET_KEY,),
        payment_lifetime=wire.PAYMENT_LIFETIME,
    )

    def __init__(self, *, gateway: SandboxApi, timeout: float = 5.0) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._gateway = gateway
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SandboxProvider(timeout={self._timeout:g})"

    async def create_payment(self, request: PaymentRequest) -> ProviderPayment:
        _secret_key(request.route)
        payment = await self._call(
            "create",
            self._gateway.create(
                account=request.route.merchant_account,
                amount=request.amount.minor,
                currency=request.amount.currency,
                method=request.method.value,
                manual_capture=request.manual_capture,
                description=request.description,
                idempotency_key=request.idempotency_key,
                outcome=request.metadata.get(wire.OUTCOME_METADATA_KEY),
            ),
        )
        return _payment(payment)

    async def fetch_payment(self, route: SellerRoute, external_id: str) -> ProviderPayment:
        _secret_key(route)
        return _payment(
            await self._call("status", self._gateway.status(account=route.merchant_account, payment_id=external_id))
        )

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        _secret_key(request.route)
        refund = await self._call(
            "refund",
            self._gateway.refund(
                account=request.merchant_account,
                payment_id=request.external_id,
                amount=request.amount.minor,
                idempotency_key=request.idempotency_key,
            ),
        )
        return ProviderRefund(external_id=refund.id)

    async def capture(self, action: PaymentAction) -> ProviderPayment:
        _secret_key(action.route)
        return _payment(
            await self._call(
                "capture",
                self._gateway.capture(
                    account=action.route.merchant_account,
                    payment_id=action.external_id,
                    idempotency_key=action.idempotency_key,
                ),
            )
        )

    async def cancel(self, action: PaymentAction) -> ProviderPayment:
        _secret_key(action.route)
        return _payment(
            await self._call(
                "cancel",
                self._gateway.cancel(
                    account=action.route.merchant_account,
                    payment_id=action.external_id,
                    idempotency_key=action.idempotency_key,
                ),
            )
        )

    async def _call(self, operation: str, answer: Awaitable[_T]) -> _T:
        """One call to the sandbox with the adapter's timeout, translated into a result or a port error."""
        failure: ProviderDeclined | ProviderUnavailable
        try:
            with anyio.fail_after(self._timeout):
                return await answer
        except TimeoutError:
            failure = ProviderUnavailable(f"sandbox {operation}: no answer within {self._timeout:g} s", timed_out=True)
        except SandboxUnavailable as unavailable:
            failure = ProviderUnavailable(str(unavailable))
        except SandboxRefusal as refusal:
            failure = ProviderDeclined(refusal.code, refusal.message)
        logger.warning("sandbox_call_failed", operation=operation, reason=str(failure))
        # Raised outside the except blocks, so the sandbox's exception does not ride along.
        raise failure


def _secret_key(route: SellerRoute) -> str:
    key = route.credentials.get(SECRET_KEY)
    if not key:
        # Refused before any call, as a real provider refuses a request without its API key.
        raise ProviderDeclined("missing_secret_key", f"shop {route.shop_id} has no sandbox secret_key")
    return key


def _payment(payment: SandboxPayment) -> ProviderPayment:
    # A failed payment's status is its failure reason: it becomes the payment's error code.
    return ProviderPayment(
        external_id=payment.id,
        provider_status=payment.failure_reason or payment.status,
        outcome=_OUTCOMES[payment.status],
        payment_link=payment.payment_link,
        expires_at=payment.expires_at,
        checkout_url=payment.checkout_url,
        client_secret=payment.client_secret,
    )
