"""Kaspi Pay through the merchant's PHP proxy: the `PaymentProvider` adapter."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import TypeVar
from urllib.parse import urlencode

from domain.payment import PaymentMethod
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
from adapters.providers.aiohttp_transport import PlainHttpClient, PlainHttpFailure, PlainHttpTimeout
from adapters.providers.kaspi_proxy import wire
from adapters.providers.no_refund_lookup import NoRefundLookup
from adapters.redaction import protect_http_client_loggers, redact_secrets

# The wire detail of each exchange (redacted URL, HTTP status) at DEBUG; the one line per call that
# operators read (payment, shop, outcome, duration) comes from `adapters.providers.instrumented`.
logger = get_logger("paygate.providers.kaspi")

CURRENCY = "KZT"
DEVICE_TOKEN = "device_token"  # the route credential that holds the Kaspi device token

_T = TypeVar("_T")


class KaspiProxyProvider(NoRefundLookup):
    """Speaks the proxy's protocol: GET `{base}/{operation}/` with every argument in the query.

    No call is ever retried: the proxy has no idempotency, so a second `create` would push a
    second bill to the customer's phone. An unclear answer is reported as `ProviderUnavailable`
    and left to status sync or an operator.
    """

    profile = ProviderProfile(
        name="kaspi",
        capabilities=frozenset({Capability.PUSH_TO_PHONE, Capability.PAYMENT_LINK, Capability.PARTIAL_REFUND}),
        currencies=frozenset({CURRENCY}),
        default_method=PaymentMethod.REMOTE,
        credential_names=(),
        # Kaspi cancels an unconfirmed remote payment after about 24 hours.
        payment_lifetime=timedelta(hours=24),
        # The real sellers have none: the proxy then bills through its own device.
        optional_credentials=(DEVICE_TOKEN,),
    )

    def __init__(
        self,
        *,
        client: PlainHttpClient,
        base_url: str,
        access_token: str,
        timeout: float = 15.0,
    ) -> None:
        if not access_token:
            raise ValueError("the Kaspi proxy needs an access token")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._access_token = access_token
        self._timeout = timeout
        # The token travels in the URL; HTTP client libraries log URLs, whoever built the client.
        protect_http_client_loggers()

    def __repr__(self) -> str:
        return f"KaspiProxyProvider(base_url={redact_secrets(self._base_url, [self._access_token])!r})"

    async def create_payment(self, request: PaymentRequest) -> ProviderPayment:
        route = request.route
        device_token = route.credentials.get(DEVICE_TOKEN)
        if request.amount.currency != CURRENCY:
            raise ProviderDeclined(
                "unsupported_currency", f"Kaspi takes {CURRENCY} only, not {request.amount.currency}"
            )
        if not request.amount.is_positive():
            raise ProviderDeclined("invalid_amount", "the amount must be positive")
        common = {
            "amount": request.amount.major_text(),
            "message": request.description,
            "organizationBin": route.merchant_account,
            **_device(device_token),
        }
        if request.method is PaymentMethod.REMOTE:
            if request.phone is None:
                raise ProviderDeclined("phone_required", "a remote Kaspi payment needs the customer's phone")
            created = await self._exchange(
                "create",
                {"phone": request.phone.value, **common},
                wire.read_create,
                device_token=device_token,
                shown={"phone": request.phone.masked()},
            )
            return ProviderPayment(
                external_id=created.external_id,
                provider_status=created.status,
                outcome=wire.payment_status(created.status),
            )
        if request.method is PaymentMethod.LINK:
            link = await self._exchange("create-link", common, wire.read_create_link, device_token=device_token)
            return ProviderPayment(
                external_id=link.payment_id,
                provider_status=link.status,
                outcome=wire.payment_status(link.status),
                payment_link=link.payment_link,
                expires_at=link.expires_at,
            )
        raise ProviderDeclined("unsupported_method", f"Kaspi has no {request.method} payments")

    async def fetch_payment(self, route: SellerRoute, external_id: str) -> ProviderPayment:
        _check_external_id(external_id)
        state = await self._exchange(
            "status",
            {"externalId": external_id},
            partial(wire.read_status, external_id=external_id),
            device_token=route.credentials.get(DEVICE_TOKEN),
        )
        return ProviderPayment(
            external_id=state.external_id,
            provider_status=state.status,
            outcome=wire.payment_status(state.status),
        )

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        _check_external_id(request.external_id)
        device_token = request.route.credentials.get(DEVICE_TOKEN)
        if request.amount.currency != CURRENCY or not request.amount.is_positive():
            raise ProviderDeclined("invalid_amount", f"a Kaspi refund is a positive amount in {CURRENCY}")
        accepted = await self._exchange(
            "refund",
            {
                "externalId": request.external_id,
                "amount": request.amount.major_text(),
                # The BIN the payment was taken on, which is where the money has to come back from.
                "organizationBin": request.merchant_account,
                **_device(device_token),
            },
            partial(wire.read_refund, external_id=request.external_id),
            device_token=device_token,
        )
        if accepted.refunded_amount is not None and accepted.refunded_amount != request.amount.major:
            # The refund did happen (the proxy said so); whether its amount field is per refund or
            # cumulative varies between proxy versions, so it is reported, not acted on.
            logger.warning(
                "kaspi_refund_amount_differs",
                external_id=request.external_id,
                refund_id=request.refund_id,
                requested=request.amount.major_text(),
                reported=str(accepted.refunded_amount),
            )
        return ProviderRefund(external_id=accepted.return_operation_id)

    async def _exchange(
        self,
        operation: str,
        params: Mapping[str, str],
        read: Callable[[int, bytes], _T],
        *,
        device_token: str | None,
        shown: Mapping[str, str] | None = None,
    ) -> _T:
        """One GET to the proxy, translated into a result or a port error; logged once, never retried."""
        url = f"{self._base_url}/{operation}/"
        query = {**params, "access_token": self._access_token}
        secrets = [self._access_token, device_token or ""]

        def shown_url() -> str:
            # The URL as logs and error messages may show it: tokens masked, the phone shortened.
            # Built only when shown: encoding and redacting it cost more than the rest of a call.
            return redact_secrets(f"{url}?{urlencode({**query, **(shown or {})}, safe='*')}", secrets)

        failure: ProviderDeclined | ProviderUnavailable | None = None
        http_status: int | None = None
        result: _T  # read when the call went through: `failure` stays None only then
        started = time.perf_counter()
        try:
            answer = await self._client.get(url, query, timeout=self._timeout)
        except PlainHttpTimeout:
            failure = ProviderUnavailable(f"kaspi {operation}: no answer within {self._timeout:g} s", timed_out=True)
        except PlainHttpFailure as error:
            failure = ProviderUnavailable(f"kaspi {operation}: {error.kind}")
        except BaseException:
            self._log(operation, shown_url, None, started, "cancelled")
            raise
        else:
            http_status = answer.status
            try:
                result = read(http_status, answer.body)
            except wire.ProxyDeclined as refusal:
                failure = ProviderDeclined(refusal.code, redact_secrets(refusal.message, secrets))
            except wire.ProxyOutcomeUnknown as unknown:
                failure = ProviderUnavailable(f"kaspi {operation}: {redact_secrets(unknown.reason, secrets)}")
        if failure is None:
            self._log(operation, shown_url, http_status, started, "ok")
            return result
        if isinstance(failure, ProviderDeclined):
            self._log(operation, shown_url, http_status, started, f"declined {failure}")
        else:
            # The detail an operator needs (which proxy, which query) stays here, in the server log:
            # the error itself reaches API clients and the audit log, so it names no URL.
            outcome = "timeout" if failure.timed_out else f"unavailable: {failure.reason}"
            self._log(operation, shown_url, http_status, started, outcome, level=logging.WARNING)
        # Raised outside the except blocks, so no client exception rides along as __context__.
        raise failure

    def _log(
        self,
        operation: str,
        shown_url: Callable[[], str],
        http_status: int | None,
        started: float,
        outcome: str,
        *,
        level: int = logging.DEBUG,
    ) -> None:
        if not logger.isEnabledFor(level):
            return
        logger.log(
            level,
            "kaspi_exchange",
            provider=self.profile.name,
            operation=operation,
            url=shown_url(),  # tokens masked already; the handler's filter checks again
            http_status=http_status,
            duration_ms=round((time.perf_counter() - started) * 1000),
            outcome=outcome,
        )

    # The proxy exposes neither; the profile says so, and the application never calls these.
    async def capture(self, action: PaymentAction) -> ProviderPayment:
        raise ProviderDeclined("not_supported", "Kaspi payments are captured at once")

    async def cancel(self, action: PaymentAction) -> ProviderPayment:
        raise ProviderDeclined("not_supported", "the Kaspi proxy cannot cancel a payment")


def _device(token: str | None) -> dict[str, str]:
    """`deviceToken` only when the seller has one: without it the proxy uses its own device, and
    an empty or null token would be sent to Kaspi as a device that does not exist."""
    return {"deviceToken": token} if token else {}


def _check_external_id(external_id: str) -> None:
    if not external_id or not external_id.strip():
        raise ProviderDeclined("missing_external_id", "the payment has no Kaspi externalId")
