"""A local YooKassa: API v3's wire protocol over in-memory state, with the customer's side and fault knobs.

API, as api.yookassa.ru serves it (Basic auth `shop_id:secret_key` checked per shop, `Idempotence-Key`
required on every POST, the same key answering the same result for 24 h):
`POST /v3/payments`, `GET /v3/payments/{id}`, `POST /v3/payments/{id}/capture`,
`POST /v3/payments/{id}/cancel`, `POST /v3/refunds`, `GET /v3/refunds/{id}`, `GET /v3/refunds?payment_id=`.
A refund answers `succeeded`, or `pending` with the `refund_status` knob until `POST /refunds/{id}/succeed`
(which notifies `refund.succeeded` with the refund object) or `/fail` (cancelled; no notification).

The customer's side: `GET /checkout/{id}` is the confirmation_url page; `POST /payments/{id}/pay`,
`/decline` (`{"reason", "party"}`) and `/expire` act for the customer or YooKassa, and then send the
notification to the configured URL. Controls: `POST /shops` (`{"shop_id", "secret_key"}`),
`GET /payments`, `GET /payments/{id}`, `GET|POST /knobs`, `POST /notify`, `POST /reset`, `GET /requests`.

Faults lose the answer of an operation that did happen; its result is kept under the Idempotence-Key,
so a retry with the same key gets it: `timeout` holds the answer past any client timeout, `http_500`
answers 500 (YooKassa: "the result is unknown"), `http_202` answers "accepted, still processing".
"""

from __future__ import annotations

import base64
import binascii
import hmac
import random
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import parse_qsl

import attrs
import httpx
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from simulators.base import (
    FaultKnobs,
    NotAJsonObject,
    SimulatorState,
    check_milliseconds,
    json_object,
    masked_headers,
    one_of,
    simulator_app,
    wait_or_disconnect,
)
from simulators.yookassa import wire

OPERATIONS = ("create", "status", "capture", "cancel", "refund", "refund_status", "list_refunds")
# A new refund's status: YooKassa answers `pending` for methods that refund asynchronously, and
# later settles it (`POST /refunds/{id}/succeed|fail`; only `refund.succeeded` is notified).
REFUND_STATUSES = (wire.SUCCEEDED, wire.PENDING)
FAULTS = ("none", "timeout", "http_500", "http_202")
IDEMPOTENCE_TTL = timedelta(hours=24)
# A card payment waits for capture for up to 7 days before YooKassa cancels it (expired_on_capture).
CAPTURE_WINDOW = timedelta(days=7)
CURRENCIES = frozenset({"RUB"})

# A request body: a fraction is read as the exact Decimal it spells, never a float.
_BODY = msgspec.json.Decoder(float_hook=Decimal)
# A body's fingerprint: the same whatever order its keys came in.
_FINGERPRINT = msgspec.json.Encoder(order="sorted")
_AMOUNT = re.compile(r"\d{1,10}(?:\.\d{1,2})?")
_SHOP_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_PAYMENT_FIELDS = frozenset(
    {
        "amount", "description", "receipt", "recipient", "payment_token", "payment_method_id",
        "payment_method_data", "confirmation", "save_payment_method", "capture", "client_ip", "metadata",
        "airline", "transfers", "deal", "merchant_customer_id", "payment_order", "receiver", "statements",
    }
)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _money_text(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _check_optional_text(_instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{attribute.name} must be a non-empty string or null")


@attrs.frozen
class Knobs(FaultKnobs):
    """How the simulated YooKassa behaves."""

    FAULTS = FAULTS
    OPERATIONS = OPERATIONS

    # What a 202 answer advises (YooKassa sends 1800 ms).
    retry_after_ms: int = attrs.field(default=1800, validator=check_milliseconds)
    # Where notifications go (YooKassa: the URL set in the shop's settings); None sends none.
    notification_url: str | None = attrs.field(default=None, validator=_check_optional_text)
    # The address notifications claim to come from, as `X-Forwarded-For`: YooKassa seen through a
    # reverse proxy, which is how a local test makes them come from YooKassa's networks.
    notification_source: str | None = attrs.field(default=None, validator=_check_optional_text)
    refund_status: str = attrs.field(default=wire.SUCCEEDED, validator=one_of(REFUND_STATUSES))


@attrs.frozen
class RecordedRequest:
    """One API request as received; the Authorization header is masked."""

    method: str
    path: str
    shop_id: str | None
    headers: Mapping[str, str]
    body: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "shop_id": self.shop_id,
            "idempotence_key": self.headers.get("idempotence-key"),
            "body": self.body.decode("utf-8", "replace"),
        }


@attrs.define(str=False)
class ApiError(Exception):
    status: int
    code: str
    description: str
    parameter: str | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.description}"

    def body(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "type": "error",
            "id": str(uuid.uuid4()),
            "code": self.code,
            "description": self.description,
        }
        if self.parameter:
            document["parameter"] = self.parameter
        return document


def _invalid(description: str, parameter: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", description, parameter)


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


@attrs.define
class SimulatedRefund:
    id: str
    payment_id: str
    amount: Decimal
    currency: str
    created_at: datetime
    status: str = wire.SUCCEEDED
    metadata: dict[str, str] = attrs.field(factory=dict)
    cancellation: tuple[str, str] | None = None  # (party, reason)

    def api_json(self) -> dict[str, Any]:
        """The refund object as YooKassa's API returns it (the SDK's RefundResponse)."""
        document: dict[str, Any] = {
            "id": self.id,
            "payment_id": self.payment_id,
            "status": self.status,
            "created_at": _iso(self.created_at),
            "amount": {"value": _money_text(self.amount), "currency": self.currency},
        }
        if self.metadata:
            document["metadata"] = dict(self.metadata)
        if self.cancellation is not None:
            party, reason = self.cancellation
            document["cancellation_details"] = {"party": party, "reason": reason}
        return document


@attrs.define
class SimulatedPayment:
    id: str
    shop_id: str
    amount: Decimal
    currency: str
    capture: bool
    description: str | None
    metadata: dict[str, str]
    return_url: str
    confirmation_url: str
    created_at: datetime
    status: str = wire.PENDING
    paid: bool = False
    captured_at: datetime | None = None
    expires_at: datetime | None = None
    cancellation: tuple[str, str] | None = None  # (party, reason)
    refunds: list[SimulatedRefund] = attrs.field(factory=list)

    @property
    def refunded(self) -> Decimal:
        """Refunded or on its way back: a cancelled refund gives its amount back to refund."""
        return sum((r.amount for r in self.refunds if r.status != wire.CANCELED), Decimal(0))

    def api_json(self) -> dict[str, Any]:
        """The payment object as YooKassa's API returns it."""
        document: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "paid": self.paid,
            "amount": {"value": _money_text(self.amount), "currency": self.currency},
            "created_at": _iso(self.created_at),
            "metadata": dict(self.metadata),
            "recipient": {"account_id": self.shop_id, "gateway_id": f"{self.shop_id}01"},
            "refundable": self.status == wire.SUCCEEDED and self.refunded < self.amount,
            "test": True,
        }
        if self.description is not None:
            document["description"] = self.description
        if self.status == wire.PENDING:
            document["confirmation"] = {"type": "redirect", "confirmation_url": self.confirmation_url}
        if self.paid:
            document["payment_method"] = {
                "type": "bank_card",
                "id": self.id,
                "saved": False,
                "title": "Bank card *4444",
                "card": {
                    "first6": "555555", "last4": "4444", "expiry_month": "07", "expiry_year": "2030",
                    "card_type": "MasterCard", "issuer_country": "RU",
                },
            }
        if self.expires_at is not None and self.status == wire.WAITING_FOR_CAPTURE:
            document["expires_at"] = _iso(self.expires_at)
        if self.captured_at is not None:
            document["captured_at"] = _iso(self.captured_at)
        if self.refunds:
            document["refunded_amount"] = {"value": _money_text(self.refunded), "currency": self.currency}
        if self.cancellation is not None:
            party, reason = self.cancellation
            document["cancellation_details"] = {"party": party, "reason": reason}
        return document

    def view(self) -> dict[str, Any]:
        """What a test may see: the API object plus the simulator's own bookkeeping."""
        return {
            **self.api_json(),
            "shop_id": self.shop_id,
            "capture": self.capture,
            "return_url": self.return_url,
            "refunds": [r.api_json() for r in self.refunds],
        }


@attrs.frozen
class _Stored:
    fingerprint: str
    status: int
    body: dict[str, Any]
    at: datetime


class UnknownPayment(LookupError):
    pass


class WrongStatus(ValueError):
    pass


class YooKassaSimulatorState(SimulatorState[Knobs, RecordedRequest]):
    """The simulated YooKassa's memory: shops, payments, refunds and idempotence keys, on the shared
    knobs and request log.

    `shops` maps shop ids to secret keys. With `enrol_on_first_use` an unknown shop is enrolled with
    the secret key of its first request (the gateway's built-in sandbox, so demos need no setup);
    from then on that key, and only it, opens the shop.
    """

    def __init__(
        self,
        *,
        shops: Mapping[str, str] | None = None,
        enrol_on_first_use: bool = False,
        latency_ms: int = 0,
        hang_seconds: float = 60.0,
        clock: Callable[[], datetime] = _now,
        seed: int | None = None,
    ) -> None:
        super().__init__(knobs=Knobs(latency_ms=latency_ms), hang_seconds=hang_seconds)
        self.enrol_on_first_use = enrol_on_first_use
        self._clock = clock
        self._random = random.Random(seed)
        self._initial_shops = dict(shops or {})
        self._shops = dict(self._initial_shops)
        self._payments: dict[str, SimulatedPayment] = {}
        self._refunds: dict[str, SimulatedRefund] = {}
        self._keys: dict[tuple[str, str], _Stored] = {}

    def _forget(self) -> None:
        self._payments.clear()
        self._refunds.clear()
        self._keys.clear()
        self._shops = dict(self._initial_shops)

    # --- Shops and the request log ----------------------------------------------------------------

    def add_shop(self, shop_id: str, secret_key: str) -> None:
        if not _SHOP_ID.fullmatch(shop_id) or not secret_key:
            raise ValueError("a shop needs an id of letters, digits, '-' or '_' and a secret key")
        with self._lock:
            self._shops[shop_id] = secret_key

    def authenticate(self, authorization: str | None) -> str | None:
        """The shop a `Basic shop_id:secret_key` header opens, or None."""
        credentials = _basic_credentials(authorization)
        if credentials is None:
            return None
        shop_id, secret = credentials
        with self._lock:
            known = self._shops.get(shop_id)
            if known is None and self.enrol_on_first_use and _SHOP_ID.fullmatch(shop_id) and secret:
                self._shops[shop_id] = known = secret
        if known is None or not hmac.compare_digest(known.encode(), secret.encode()):
            return None
        return shop_id

    def wait_for_requests(self, count: int, *, timeout: float = 5.0) -> bool:
        """Block until `count` API requests arrived (they arrive on the server's thread)."""
        return self._wait_until(lambda: len(self._requests) >= count, timeout)

    # --- Idempotence --------------------------------------------------------------------------------

    def idempotent(
        self, shop_id: str, key: str, fingerprint: str, perform: Callable[[], dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        """`perform` once per shop and key; the same key answers the same result for 24 hours.

        The same key with a different request is refused, as YooKassa refuses it.
        """
        with self._lock:
            now = self._clock()
            stored = self._keys.get((shop_id, key))
            if stored is not None and now - stored.at >= IDEMPOTENCE_TTL:
                stored = None
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    error = _invalid("This Idempotence-Key was used with another request", "Idempotence-Key")
                    return error.status, error.body()
                return stored.status, stored.body
            try:
                status, body = 200, perform()
            except ApiError as error:
                status, body = error.status, error.body()
            self._keys[(shop_id, key)] = _Stored(fingerprint, status, body, now)
            return status, body

    # --- The API's operations ---------------------------------------------------------------------------

    def create(self, shop_id: str, body: Mapping[str, Any], checkout_url: Callable[[str], str]) -> dict[str, Any]:
        unknown = sorted(set(body) - _PAYMENT_FIELDS)
        if unknown:
            raise _invalid(f"Unknown parameter {unknown[0]}", unknown[0])
        amount, currency = _amount(body.get("amount"))
        confirmation = body.get("confirmation")
        if not isinstance(confirmation, dict) or confirmation.get("type") != "redirect":
            raise _invalid("confirmation must be {type: redirect, return_url}", "confirmation")
        return_url = confirmation.get("return_url")
        if not isinstance(return_url, str) or not return_url.startswith(("http://", "https://")):
            raise _invalid("confirmation.return_url must be a URL", "confirmation.return_url")
        capture = body.get("capture", False)  # YooKassa's default is two-step
        if not isinstance(capture, bool):
            raise _invalid("capture must be true or false", "capture")
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > wire.MAX_DESCRIPTION):
            raise _invalid(f"description must be a string of at most {wire.MAX_DESCRIPTION} characters", "description")
        metadata = _metadata(body.get("metadata"))
        with self._lock:
            payment_id = self._new_id("000f")
            payment = SimulatedPayment(
                id=payment_id,
                shop_id=shop_id,
                amount=amount,
                currency=currency,
                capture=capture,
                description=description,
                metadata=metadata,
                return_url=return_url,
                confirmation_url=checkout_url(payment_id),
                created_at=self._clock(),
            )
            self._payments[payment_id] = payment
            return payment.api_json()

    def get(self, shop_id: str, payment_id: str) -> dict[str, Any]:
        with self._lock:
            return self._owned(shop_id, payment_id).api_json()

    def capture_payment(self, shop_id: str, payment_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            payment = self._owned(shop_id, payment_id)
            if payment.status != wire.WAITING_FOR_CAPTURE:
                raise _invalid(f"Payment is {payment.status}; only waiting_for_capture can be captured")
            amount = payment.amount
            if body.get("amount") is not None:
                amount, currency = _amount(body.get("amount"))
                if currency != payment.currency or amount > payment.amount:
                    raise _invalid("The capture amount exceeds the payment amount", "amount")
            payment.amount = amount  # a partial capture releases the rest to the customer
            payment.status = wire.SUCCEEDED
            payment.captured_at = self._clock()
            return payment.api_json()

    def cancel_payment(self, shop_id: str, payment_id: str) -> dict[str, Any]:
        with self._lock:
            payment = self._owned(shop_id, payment_id)
            if payment.status != wire.WAITING_FOR_CAPTURE:
                raise _invalid(f"Payment is {payment.status}; only waiting_for_capture can be cancelled")
            payment.status = wire.CANCELED
            payment.cancellation = ("merchant", "canceled_by_merchant")
            return payment.api_json()

    def refund(self, shop_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        payment_id = body.get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise _invalid("payment_id is required", "payment_id")
        amount, currency = _amount(body.get("amount"))
        with self._lock:
            payment = self._owned(shop_id, payment_id)
            if payment.status != wire.SUCCEEDED:
                raise _invalid(f"Payment is {payment.status}; only a succeeded payment can be refunded", "payment_id")
            if currency != payment.currency:
                raise _invalid("The refund currency differs from the payment's", "amount.currency")
            if amount > payment.amount - payment.refunded:
                raise _invalid("The refund amount exceeds what remains to refund", "amount.value")
            metadata = body.get("metadata")
            refund = SimulatedRefund(
                id=self._new_id("0015"), payment_id=payment_id, amount=amount, currency=currency,
                created_at=self._clock(), status=self._knobs.refund_status,
                metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {},
            )
            payment.refunds.append(refund)
            self._refunds[refund.id] = refund
            return refund.api_json()

    def list_refunds(self, shop_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """`GET /v3/refunds`: this shop's refunds, newest first, filtered by `payment_id`, `cursor` paging."""
        limit = int(query["limit"]) if query.get("limit", "").isdigit() else 10
        if not 1 <= limit <= 100:
            raise _invalid("limit must be from 1 to 100", "limit")
        with self._lock:
            found = [
                r for r in reversed(self._refunds.values())
                if self._payments[r.payment_id].shop_id == shop_id
                and query.get("payment_id") in (None, r.payment_id)
            ]
            start = int(query["cursor"]) if query.get("cursor", "").isdigit() else 0
            page = found[start:start + limit]
            document: dict[str, Any] = {"type": "list", "items": [r.api_json() for r in page]}
            if start + limit < len(found):
                document["next_cursor"] = str(start + limit)
            return document

    def settle_refund(self, refund_id: str, *, succeed: bool) -> SimulatedRefund:
        """A pending refund's final word: the money went back, or the refund network refused it."""
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None:
                raise UnknownPayment(refund_id)
            if refund.status != wire.PENDING:
                raise WrongStatus(f"refund {refund_id} is {refund.status}")
            refund.status = wire.SUCCEEDED if succeed else wire.CANCELED
            if not succeed:
                refund.cancellation = ("refund_network", "general_decline")
            return attrs.evolve(refund, metadata=dict(refund.metadata))

    def get_refund(self, shop_id: str, refund_id: str) -> dict[str, Any]:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None or self._payments[refund.payment_id].shop_id != shop_id:
                raise _not_found("Refund")
            return refund.api_json()

    def _owned(self, shop_id: str, payment_id: str) -> SimulatedPayment:
        payment = self._payments.get(payment_id)
        if payment is None or payment.shop_id != shop_id:
            raise _not_found("Payment")  # another shop's payment does not exist for this one
        return payment

    # --- The customer's side ---------------------------------------------------------------------------

    def pay(self, payment_id: str) -> SimulatedPayment:
        """The customer paid on the checkout page: captured at once, or held for capture."""
        with self._lock:
            payment = self._pending(payment_id)
            payment.paid = True
            if payment.capture:
                payment.status = wire.SUCCEEDED
                payment.captured_at = self._clock()
            else:
                payment.status = wire.WAITING_FOR_CAPTURE
                payment.expires_at = self._clock() + CAPTURE_WINDOW
            return self._copy(payment)

    def decline(
        self, payment_id: str, *, reason: str = "insufficient_funds", party: str = "payment_network"
    ) -> SimulatedPayment:
        """The customer's bank refused, or the customer gave up."""
        with self._lock:
            payment = self._pending(payment_id)
            payment.status = wire.CANCELED
            payment.cancellation = (party, reason)
            return self._copy(payment)

    def expire(self, payment_id: str) -> SimulatedPayment:
        """YooKassa's own cancellation: unpaid in time, or not captured in time."""
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise UnknownPayment(payment_id)
            if payment.status not in (wire.PENDING, wire.WAITING_FOR_CAPTURE):
                raise WrongStatus(f"payment {payment_id} is {payment.status}")
            reason = "expired_on_confirmation" if payment.status == wire.PENDING else "expired_on_capture"
            payment.status = wire.CANCELED
            payment.cancellation = ("yoo_money", reason)
            return self._copy(payment)

    def _pending(self, payment_id: str) -> SimulatedPayment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise UnknownPayment(payment_id)
        if payment.status != wire.PENDING:
            raise WrongStatus(f"payment {payment_id} is {payment.status}")
        return payment

    # --- Looking -------------------------------------------------------------------------------------

    def payment(self, payment_id: str) -> SimulatedPayment | None:
        with self._lock:
            found = self._payments.get(payment_id)
            return self._copy(found) if found else None

    def payments(self) -> list[SimulatedPayment]:
        with self._lock:
            return [self._copy(p) for p in self._payments.values()]

    def notification(self, payment_id: str, event: str | None = None) -> dict[str, Any]:
        """The notification YooKassa would send about the payment now (or the `event` asked for).

        A `refund.*` event names a refund id in `payment_id`, and carries the refund object.
        """
        with self._lock:
            if event is not None and event.startswith(wire.REFUND_EVENT_PREFIX):
                refund = self._refunds.get(payment_id)
                if refund is None:
                    raise UnknownPayment(payment_id)
                return {"type": wire.NOTIFICATION, "event": event, "object": refund.api_json()}
            payment = self._payments.get(payment_id)
            if payment is None:
                raise UnknownPayment(payment_id)
            return {
                "type": wire.NOTIFICATION,
                "event": event or f"{wire.PAYMENT_EVENT_PREFIX}{payment.status}",
                "object": payment.api_json(),
            }

    @staticmethod
    def _copy(payment: SimulatedPayment) -> SimulatedPayment:
        return attrs.evolve(payment, metadata=dict(payment.metadata), refunds=list(payment.refunds))

    def _new_id(self, middle: str) -> str:
        # YooKassa's ids are UUID-shaped: `2d9c7e6b-000f-5000-9000-1b68e7b15f3f`.
        while True:
            head = f"{self._random.getrandbits(32):08x}"
            tail = f"{self._random.getrandbits(48):012x}"
            candidate = f"{head}-{middle}-5000-{self._random.choice('89ab')}000-{tail}"
            if candidate not in self._payments and candidate not in self._refunds:
                return candidate


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    shop_id, colon, secret = decoded.partition(":")
    return (shop_id, secret) if colon and shop_id else None


def _amount(value: object) -> tuple[Decimal, str]:
    if not isinstance(value, dict):
        raise _invalid("amount must be {value, currency}", "amount")
    text, currency = value.get("value"), value.get("currency")
    # A string, as YooKassa documents it: a JSON number would be a float on many clients.
    if not isinstance(text, str) or not _AMOUNT.fullmatch(text) or Decimal(text) <= 0:
        raise _invalid("amount.value must be a positive decimal string such as '599.00'", "amount.value")
    if currency not in CURRENCIES:
        raise _invalid(f"amount.currency must be one of {', '.join(sorted(CURRENCIES))}", "amount.currency")
    return Decimal(text), currency


def _metadata(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > wire.MAX_METADATA_KEYS:
        raise _invalid(f"metadata must be an object of at most {wire.MAX_METADATA_KEYS} keys", "metadata")
    for key, item in value.items():
        if len(key) > wire.MAX_METADATA_KEY or not isinstance(item, str) or len(item) > wire.MAX_METADATA_VALUE:
            raise _invalid("metadata keys and values exceed YooKassa's limits", "metadata")
    return dict(value)


# --- The ASGI app ---------------------------------------------------------------------------------


def create_yookassa_simulator(*, state: YooKassaSimulatorState | None = None) -> Starlette:
    """The simulator as a Starlette app; mount it anywhere (the gateway uses `/sandbox/yookassa`)."""
    endpoints = _Endpoints(state if state is not None else YooKassaSimulatorState())
    return simulator_app(
        endpoints.state,
        [
            Route("/v3/payments", endpoints.create, methods=["POST"]),
            Route("/v3/payments/{payment_id}", endpoints.get, methods=["GET"]),
            Route("/v3/payments/{payment_id}/capture", endpoints.capture, methods=["POST"]),
            Route("/v3/payments/{payment_id}/cancel", endpoints.cancel, methods=["POST"]),
            Route("/v3/refunds", endpoints.refund, methods=["POST"]),
            Route("/v3/refunds", endpoints.list_refunds, methods=["GET"]),
            Route("/refunds/{refund_id}/{action}", endpoints.settle_refund, methods=["POST"]),
            Route("/v3/refunds/{refund_id}", endpoints.get_refund, methods=["GET"]),
            Route("/checkout/{payment_id}", endpoints.checkout_page, methods=["GET"], name="checkout"),
            Route("/checkout/{payment_id}", endpoints.checkout_answer, methods=["POST"]),
            Route("/payments", endpoints.list_payments, methods=["GET"]),
            Route("/payments/{payment_id}", endpoints.show_payment, methods=["GET"]),
            Route("/payments/{payment_id}/{action}", endpoints.customer_action, methods=["POST"]),
            Route("/shops", endpoints.add_shop, methods=["POST"]),
            Route("/notify", endpoints.notify, methods=["POST"]),
        ],
    )


Perform = Callable[[str, dict[str, Any]], dict[str, Any]]


class _Endpoints:
    def __init__(self, state: YooKassaSimulatorState) -> None:
        self.state = state

    # --- The API ----------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        def perform(shop_id: str, body: dict[str, Any]) -> dict[str, Any]:
            return self.state.create(
                shop_id, body, lambda payment_id: str(request.url_for("checkout", payment_id=payment_id))
            )

        return await self._serve(request, "create", perform, post=True)

    async def get(self, request: Request) -> Response:
        payment_id = request.path_params["payment_id"]
        return await self._serve(request, "status", lambda shop_id, _body: self.state.get(shop_id, payment_id))

    async def capture(self, request: Request) -> Response:
        payment_id = request.path_params["payment_id"]
        return await self._serve(
            request, "capture", lambda shop_id, body: self.state.capture_payment(shop_id, payment_id, body), post=True
        )

    async def cancel(self, request: Request) -> Response:
        payment_id = request.path_params["payment_id"]
        return await self._serve(
            request, "cancel", lambda shop_id, _body: self.state.cancel_payment(shop_id, payment_id), post=True
        )

    async def refund(self, request: Request) -> Response:
        return await self._serve(request, "refund", self.state.refund, post=True)

    async def list_refunds(self, request: Request) -> Response:
        query = dict(request.query_params)
        return await self._serve(
            request, "list_refunds", lambda shop_id, _body: self.state.list_refunds(shop_id, query)
        )

    async def settle_refund(self, request: Request) -> Response:
        """A pending refund succeeds (and `refund.succeeded` is notified unless `{"notify": false}`; `url` and
    `source` as for `/notify`) or fails (YooKassa has no notification for that)."""
        action = request.path_params["action"]
        if action not in ("succeed", "fail"):
            return JSONResponse({"error": f"unknown action {action}"}, 404)
        options = await json_object(request)
        try:
            refund = self.state.settle_refund(request.path_params["refund_id"], succeed=action == "succeed")
        except UnknownPayment:
            return JSONResponse({"error": "no such refund"}, 404)
        except WrongStatus as wrong:
            return JSONResponse({"error": str(wrong)}, 409)
        delivered = None
        if action == "succeed" and options.get("notify", True):
            delivered = await self._deliver(
                refund.id, event="refund.succeeded", url=options.get("url"), source=options.get("source")
            )
        return JSONResponse({"refund": refund.api_json(), "notification": delivered})

    async def get_refund(self, request: Request) -> Response:
        refund_id = request.path_params["refund_id"]
        return await self._serve(
            request, "refund_status", lambda shop_id, _body: self.state.get_refund(shop_id, refund_id)
        )

    async def _serve(self, request: Request, operation: str, perform: Perform, *, post: bool = False) -> Response:
        raw = await request.body()
        shop_id = self.state.authenticate(request.headers.get("authorization"))
        headers = masked_headers(request, authorization="Basic ***")
        self.state.record(RecordedRequest(request.method, request.url.path, shop_id, headers, raw))
        knobs = self.state.knobs
        await wait_or_disconnect(request, knobs.latency_ms / 1000)
        if shop_id is None:
            failure = "Basic authentication failed: check the shop id and secret key"
            return _error(ApiError(401, "invalid_credentials", failure))
        try:
            if post:
                key, fingerprint, body = _idempotent_request(request, raw)
            else:
                key, fingerprint, body = None, "", {}
        except ApiError as refusal:
            return _error(refusal)
        fault = self.state.take_fault(operation)
        if key is not None:
            status, answer = self.state.idempotent(shop_id, key, fingerprint, lambda: perform(shop_id, body))
        else:
            try:
                status, answer = 200, perform(shop_id, body)
            except ApiError as refusal:
                status, answer = refusal.status, refusal.body()
        if fault == "timeout":
            # The operation happened; its answer never arrives (until the client gives up).
            await wait_or_disconnect(request, self.state.hang_seconds)
            return _error(ApiError(500, "internal_server_error", "Internal server error"))
        if fault == "http_500":
            return _error(ApiError(500, "internal_server_error", "Internal server error"))
        if fault == "http_202":
            return JSONResponse(
                {"type": "processing", "description": "Request accepted", "retry_after": knobs.retry_after_ms}, 202
            )
        return JSONResponse(answer, status)

    # --- The customer's side -------------------------------------------------------------------------

    async def checkout_page(self, request: Request) -> Response:
        payment = self.state.payment(request.path_params["payment_id"])
        if payment is None:
            return HTMLResponse("<h1>No such payment</h1>", 404)
        amount = escape(f"{_money_text(payment.amount)} {payment.currency}")
        description = escape(payment.description or "")
        action = escape(str(request.url_for("checkout", payment_id=payment.id)))
        return HTMLResponse(
            "<!doctype html><title>YooKassa sandbox</title>"
            f"<h1>Pay {amount}</h1><p>{description}</p><p>Status: {escape(payment.status)}</p>"
            f'<form method="post" action="{action}"><button name="action" value="pay">Pay</button>'
            '<button name="action" value="decline">Decline</button></form>'
        )

    async def checkout_answer(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        payment_id = request.path_params["payment_id"]
        try:
            payment = self.state.pay(payment_id) if form.get("action") == "pay" else self.state.decline(payment_id)
        except UnknownPayment:
            return HTMLResponse("<h1>No such payment</h1>", 404)
        except WrongStatus as wrong:
            return HTMLResponse(f"<h1>{escape(str(wrong))}</h1>", 409)
        await self._deliver(payment.id)
        return RedirectResponse(payment.return_url, 303)

    async def customer_action(self, request: Request) -> Response:
        payment_id = request.path_params["payment_id"]
        action = request.path_params["action"]
        options = await json_object(request)
        try:
            if action == "pay":
                payment = self.state.pay(payment_id)
            elif action == "decline":
                payment = self.state.decline(
                    payment_id,
                    reason=str(options.get("reason", "insufficient_funds")),
                    party=str(options.get("party", "payment_network")),
                )
            elif action == "expire":
                payment = self.state.expire(payment_id)
            else:
                return JSONResponse({"error": f"unknown action {action}"}, 404)
        except UnknownPayment:
            return JSONResponse({"error": "no such payment"}, 404)
        except WrongStatus as wrong:
            return JSONResponse({"error": str(wrong)}, 409)
        delivered = await self._deliver(payment.id)
        return JSONResponse({"payment": payment.view(), "notification": delivered})

    async def notify(self, request: Request) -> Response:
        """Send a notification now: `{"payment_id", "event"?, "url"?, "source"?}` (any event, even a false one)."""
        options = await _options(request)
        if not isinstance(options.get("payment_id"), str):
            return JSONResponse({"error": "payment_id is required"}, 400)
        try:
            delivered = await self._deliver(
                options["payment_id"], event=options.get("event"), url=options.get("url"), source=options.get("source")
            )
        except UnknownPayment:
            return JSONResponse({"error": "no such payment"}, 404)
        if delivered is None:
            return JSONResponse({"error": "no notification URL: set the notification_url knob or send url"}, 400)
        return JSONResponse({"notification": delivered})

    async def _deliver(
        self, payment_id: str, *, event: str | None = None, url: str | None = None, source: str | None = None
    ) -> dict[str, Any] | None:
        """POST the notification and wait for the answer; None when there is nowhere to send it."""
        knobs = self.state.knobs
        url = url or knobs.notification_url
        if url is None:
            return None
        payload = self.state.notification(payment_id, event)
        headers = {"Content-Type": "application/json"}
        source = source or knobs.notification_source
        if source is not None:
            headers["X-Forwarded-For"] = source
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
            try:
                response = await client.post(url, content=msgspec.json.encode(payload), headers=headers)
            except httpx.HTTPError as error:
                return {"event": payload["event"], "status": None, "error": type(error).__name__}
        return {"event": payload["event"], "status": response.status_code}

    # --- Controls -----------------------------------------------------------------------------------

    async def list_payments(self, request: Request) -> Response:
        return JSONResponse({"payments": [p.view() for p in self.state.payments()]})

    async def show_payment(self, request: Request) -> Response:
        payment = self.state.payment(request.path_params["payment_id"])
        if payment is None:
            return JSONResponse({"error": "no such payment"}, 404)
        return JSONResponse(payment.view())

    async def add_shop(self, request: Request) -> Response:
        options = await _options(request)
        shop_id, secret_key = options.get("shop_id"), options.get("secret_key")
        if not isinstance(shop_id, str) or not isinstance(secret_key, str):
            return JSONResponse({"error": "shop_id and secret_key are required strings"}, 400)
        try:
            self.state.add_shop(shop_id, secret_key)
        except ValueError as refusal:
            return JSONResponse({"error": str(refusal)}, 400)
        return JSONResponse({"shop_id": shop_id}, 201)


def _idempotent_request(request: Request, raw: bytes) -> tuple[str, str, dict[str, Any]]:
    key = request.headers.get("idempotence-key")
    if not key:
        raise _invalid("The Idempotence-Key header is required on every POST", "Idempotence-Key")
    if len(key) > wire.MAX_IDEMPOTENCE_KEY:
        raise _invalid(f"Idempotence-Key is longer than {wire.MAX_IDEMPOTENCE_KEY} characters", "Idempotence-Key")
    try:
        body = _BODY.decode(raw or b"{}")
    except (ValueError, RecursionError):
        raise _invalid("The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _invalid("The body must be a JSON object")
    fingerprint = f"{request.method} {request.url.path} {_FINGERPRINT.encode(body).decode('utf-8')}"
    return key, fingerprint, body


async def _options(request: Request) -> dict[str, Any]:
    """A control's options, none where the body is not a JSON object (its control then says what is missing)."""
    try:
        return await json_object(request)
    except NotAJsonObject:
        return {}


def _error(error: ApiError) -> Response:
    return JSONResponse(error.body(), error.status)
