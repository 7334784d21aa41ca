"""YooKassa's API v3 over the shared httpx client: the `PaymentProvider` adapter.

Every call authenticates as the route's own YooKassa shop (`Basic shop_id:secret_key`, built per
call): nothing is process-global, unlike the `yookassa` SDK's `Configuration`, so routes of many
sellers are safe side by side under concurrency.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import anyio
import httpx

from domain.money import Money
from domain.payment import PaymentMethod
from domain.refund import RefundStatus
from domain.seller_route import SellerRoute

from application.errors import ProviderDeclined, ProviderUnavailable
from application.ports import (
    Capability,
    PaymentAction,
    PaymentRequest,
    ProviderPayment,
    ProviderProfile,
    ProviderRefund,
    RefundLookup,
    RefundRequest,
)

from adapters.logs import get_logger
from adapters.providers.yookassa import wire
from adapters.redaction import protect_http_client_loggers, redact_secrets

logger = get_logger("paygate.providers.yookassa")

API_URL = "https://api.yookassa.ru/v3"
CURRENCY = "RUB"
SECRET_KEY = "secret_key"  # the route credential; the route's merchant_account is the shop id
# A fast unclear answer (202, 5xx, 429, a dropped connection) is asked again with the same
# Idempotence-Key, which YooKassa guarantees cannot act twice: a lost `create` answer would
# otherwise leave a payment we can never look up (we would not know its YooKassa id).
MAX_ATTEMPTS = 3
RETRY_PAUSES = (0.2, 0.5)  # seconds before the 2nd and 3rd attempt, unless YooKassa advises otherwise
# How long YooKassa honours an Idempotence-Key (24 h), less a margin for clocks and a call in flight.
IDEMPOTENCE_KEY_LIFETIME = timedelta(hours=23)
REFUND_PAGE = 100  # YooKassa's largest list page
MAX_REFUND_PAGES = 10

_T = TypeVar("_T")
Sleep = Callable[[float], Awaitable[None]]


class YooKassaProvider:
    """Redirect checkout (one- or two-step), capture, cancel, refunds and status at YooKassa.

    All attempts of one operation share one deadline, `timeout`: a call that hangs uses it up and is
    reported as an unknown outcome, never retried past it.
    """

    profile = ProviderProfile(
        name=wire.NAME,
        capabilities=frozenset(
            {
                Capability.REDIRECT_CHECKOUT,
                Capability.TWO_STEP,
                Capability.CANCEL,
                Capability.PARTIAL_REFUND,
                Capability.WEBHOOKS,
                Capability.REFUND_LOOKUP,
            }
        ),
        currencies=frozenset({CURRENCY}),
        default_method=PaymentMethod.REDIRECT,
        credential_names=(SECRET_KEY,),
        # YooKassa cancels an unpaid payment itself (expired_on_confirmation) well within a day; our
        # own expiry must come later, so that a payment we call expired can no longer be paid.
        payment_lifetime=timedelta(hours=24),
    )

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str = API_URL,
        timeout: float = 15.0,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._sleep = sleep
        protect_http_client_loggers()

    def __repr__(self) -> str:
        return f"YooKassaProvider(base_url={self._base_url!r})"

    # --- The port ---------------------------------------------------------------------------------

    async def create_payment(self, request: PaymentRequest) -> ProviderPayment:
        if request.method is not PaymentMethod.REDIRECT:
            raise ProviderDeclined("unsupported_method", f"YooKassa takes redirect payments here, not {request.method}")
        if request.amount.currency != CURRENCY or not request.amount.is_positive():
            raise ProviderDeclined("invalid_amount", f"a YooKassa payment is a positive amount in {CURRENCY}")
        if not request.return_url:
            raise ProviderDeclined("return_url_required", "a YooKassa redirect checkout needs a return_url")
        try:
            body = wire.payment_body(
                amount=request.amount,
                description=request.description,
                return_url=request.return_url,
                capture=not request.manual_capture,
                payment_id=request.payment_id,
                order_id=request.order_id,
                customer_id=request.customer_id,
                metadata=request.metadata,
            )
        except wire.Refused as refusal:
            raise ProviderDeclined(refusal.code, refusal.description) from None
        found = await self._call(
            "create", "POST", "/payments", request.route, wire.read_payment,
            body=body, idempotency_key=request.idempotency_key,
        )
        return _provider_payment(found)

    async def fetch_payment(self, route: SellerRoute, external_id: str) -> ProviderPayment:
        found = await self._call("status", "GET", f"/payments/{_path_id(external_id)}", route, wire.read_payment)
        if found.id != external_id:
            raise ProviderUnavailable(f"yookassa status: the answer is about another payment ({found.id})")
        return _provider_payment(found)

    async def capture(self, action: PaymentAction) -> ProviderPayment:
        if action.amount.currency != CURRENCY or not action.amount.is_positive():
            raise ProviderDeclined("invalid_amount", f"a YooKassa capture is a positive amount in {CURRENCY}")
        found = await self._call(
            "capture", "POST", f"/payments/{_path_id(action.external_id)}/capture", action.route, wire.read_payment,
            body=wire.capture_body(action.amount), idempotency_key=action.idempotency_key,
        )
        return _provider_payment(found)

    async def cancel(self, action: PaymentAction) -> ProviderPayment:
        found = await self._call(
            "cancel", "POST", f"/payments/{_path_id(action.external_id)}/cancel", action.route, wire.read_payment,
            body={}, idempotency_key=action.idempotency_key,
        )
        return _provider_payment(found)

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        _path_id(request.external_id)
        if request.merchant_account != request.route.merchant_account:
            # The route's secret key belongs to another shop than the one the payment was taken on.
            raise ProviderDeclined(
                "merchant_account_changed",
                f"the payment was taken on YooKassa shop {request.merchant_account}, the route now names "
                f"{request.route.merchant_account}",
            )
        if request.amount.currency != CURRENCY or not request.amount.is_positive():
            raise ProviderDeclined("invalid_amount", f"a YooKassa refund is a positive amount in {CURRENCY}")
        refund = await self._create_refund(
            request.route, request.external_id, request.amount, request.refund_id, request.idempotency_key
        )
        if refund.outcome is RefundStatus.FAILED:
            raise ProviderDeclined("refund_canceled", _cancelled(refund))
        # `pending`: some payment methods refund asynchronously. YooKassa's documented answer is to
        # wait for `refund.succeeded` or GET the refund; until then the reservation stays.
        return _provider_refund(refund)

    async def fetch_refund(self, lookup: RefundLookup) -> ProviderRefund | None:
        """By its id; without one (the create's answer was lost) among the payment's refunds, by our id.

        Not among them while the Idempotence-Key is still honoured: the create is repeated under the
        same key, which YooKassa answers with the refund it made, or makes the one it never made —
        never a second. Past that, a refund YooKassa does not list does not exist.
        """
        if lookup.external_id is not None:
            found = await self._call(
                "refund_status", "GET", f"/refunds/{_path_id(lookup.external_id)}", lookup.route, wire.read_refund
            )
            if found.id != lookup.external_id:
                raise ProviderUnavailable(f"yookassa refund_status: the answer is about another refund ({found.id})")
            return _provider_refund(found)
        listed = await self._find_refund(lookup)
        if listed is not None:
            return _provider_refund(listed)
        if lookup.asked_at - lookup.created_at >= IDEMPOTENCE_KEY_LIFETIME:
            return None
        try:
            retried = await self._create_refund(
                lookup.route, lookup.payment_external_id, lookup.amount, lookup.refund_id, lookup.idempotency_key
            )
        except ProviderDeclined as declined:
            # A definite no to the refund itself (the payment cannot be refunded): nothing was made.
            return ProviderRefund(
                None, status=RefundStatus.FAILED, failure_code=declined.code, failure_reason=declined.message
            )
        return _provider_refund(retried)

    async def _create_refund(
        self, route: SellerRoute, payment_external_id: str, amount: Money, refund_id: str, idempotency_key: str
    ) -> wire.RefundObject:
        refund = await self._call(
            "refund", "POST", "/refunds", route, wire.read_refund,
            body=wire.refund_body(payment_id=payment_external_id, amount=amount, refund_id=refund_id),
            idempotency_key=idempotency_key,
        )
        if refund.payment_id is not None and refund.payment_id != payment_external_id:
            raise ProviderUnavailable(f"yookassa refund {refund.id}: the answer is about another payment")
        if refund.amount is not None and refund.amount != amount:
            logger.warning(
                "yookassa_refund_amount_differs",
                refund_id=refund.id,
                requested=str(amount),
                reported=str(refund.amount),
            )
        return refund

    async def _find_refund(self, lookup: RefundLookup) -> wire.RefundObject | None:
        """Our refund among the payment's (`GET /refunds?payment_id=`), page by page."""
        query = {"payment_id": _path_id(lookup.payment_external_id), "limit": str(REFUND_PAGE)}
        for _ in range(MAX_REFUND_PAGES):
            page = await self._call(
                "refund_status", "GET", f"/refunds?{urlencode(query)}", lookup.route, wire.read_refund_list
            )
            for refund in page.items:
                ours = refund.paygate_refund_id == lookup.refund_id
                if ours and refund.payment_id in (None, lookup.payment_external_id):
                    return refund
            if page.next_cursor is None:
                return None
            query["cursor"] = page.next_cursor
        raise ProviderUnavailable("yookassa refund_status: too many refunds to search for ours")

    # --- One operation, over one or more attempts ----------------------------------------------------

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        route: SellerRoute,
        read: Callable[[int, bytes], _T],
        *,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> _T:
        """One YooKassa operation translated into a result or a port error; logged once."""
        secret = route.credentials.get(SECRET_KEY)
        if not secret:
            # Refused before any call: nothing reached YooKassa.
            raise ProviderDeclined("missing_secret_key", f"shop {route.shop_id} has no YooKassa secret key")
        shop_id = route.merchant_account
        auth = httpx.BasicAuth(shop_id, secret)
        headers = {"Idempotence-Key": wire.idempotence_key(idempotency_key)} if idempotency_key is not None else {}
        url = f"{self._base_url}{path}"
        started = time.monotonic()
        deadline = started + self._timeout
        attempts = 0
        http_status: int | None = None
        while True:
            attempts += 1
            retry_after: float | None = None
            failure: ProviderDeclined | ProviderUnavailable | None = None
            try:
                response = await self._client.request(
                    method, url, json=body, headers=headers, auth=auth, timeout=max(deadline - time.monotonic(), 0.001)
                )
            except httpx.TimeoutException:
                failure = ProviderUnavailable(
                    f"yookassa {operation}: no answer within {self._timeout:g} s", timed_out=True
                )
            except httpx.HTTPError as error:
                # Never str() the error: its message may carry the request URL and more.
                failure = ProviderUnavailable(f"yookassa {operation}: {type(error).__name__}")
                retry_after = 0.0
            except BaseException:
                self._log(operation, method, path, shop_id, None, started, attempts, "cancelled", logging.WARNING)
                raise
            else:
                http_status = response.status_code
                try:
                    result = read(http_status, response.content)
                except wire.Refused as refusal:
                    failure = ProviderDeclined(refusal.code, redact_secrets(str(refusal), [secret]))
                except wire.OutcomeUnknown as unknown:
                    failure = ProviderUnavailable(f"yookassa {operation}: {redact_secrets(unknown.reason, [secret])}")
                    retry_after = unknown.retry_after if unknown.retry_after is not None else 0.0
                else:
                    self._log(operation, method, path, shop_id, http_status, started, attempts, "ok", logging.INFO)
                    return result
            pause = self._pause(attempts, retry_after, deadline)
            if pause is None:
                break
            await self._sleep(pause)
        if isinstance(failure, ProviderDeclined):
            outcome = f"declined {failure}"
        else:
            outcome = "timeout" if failure.timed_out else f"unavailable: {failure.reason}"
        self._log(operation, method, path, shop_id, http_status, started, attempts, outcome, logging.WARNING)
        # Raised outside the except blocks, so no httpx exception rides along as __context__.
        raise failure

    def _pause(self, attempts: int, retry_after: float | None, deadline: float) -> float | None:
        """How long to wait before asking again, or None when this answer is final.

        `retry_after` None means the answer was definite or the time is spent (a timeout).
        """
        if retry_after is None or attempts >= self._max_attempts:
            return None
        pause = max(retry_after, RETRY_PAUSES[min(attempts, len(RETRY_PAUSES)) - 1])
        # The next attempt needs time to be answered in, not only to be sent.
        if time.monotonic() + pause + 0.1 >= deadline:
            return None
        return pause

    def _log(
        self,
        operation: str,
        method: str,
        path: str,
        shop_id: str,
        http_status: int | None,
        started: float,
        attempts: int,
        outcome: str,
        level: int,
    ) -> None:
        duration_ms = round((time.monotonic() - started) * 1000)
        logger.log(
            level,
            "yookassa_exchange",
            provider=wire.NAME,
            operation=operation,
            method=method,
            path=path,
            merchant_account=shop_id,
            http_status=http_status,
            duration_ms=duration_ms,
            attempts=attempts,
            outcome=outcome,
        )


def _provider_payment(found: wire.PaymentObject) -> ProviderPayment:
    return ProviderPayment(
        external_id=found.id,
        provider_status=found.status,
        outcome=found.outcome,
        checkout_url=found.confirmation_url,
        failure_reason=f"canceled: {found.cancellation}" if found.cancellation else None,
        amount=found.amount,
    )


def _provider_refund(refund: wire.RefundObject) -> ProviderRefund:
    failed = refund.outcome is RefundStatus.FAILED
    return ProviderRefund(
        external_id=refund.id,
        status=refund.outcome,
        provider_status=refund.status,
        failure_code="refund_canceled" if failed else None,
        failure_reason=_cancelled(refund) if failed else None,
    )


def _cancelled(refund: wire.RefundObject) -> str:
    return f"YooKassa cancelled refund {refund.id}: {refund.cancellation or 'no reason given'}"


def _path_id(external_id: str) -> str:
    if not wire.is_object_id(external_id):
        # Refused before any call: an id that is not YooKassa's never reaches a URL path.
        raise ProviderDeclined("invalid_external_id", "not a YooKassa payment id")
    return quote(external_id, safe="")
