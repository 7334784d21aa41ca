"""A local Kaspi proxy: the proxy's wire protocol over in-memory state, with test controls and fault knobs.

Proxy routes (as the merchant's PHP proxy serves them): `GET /api/v2/paymentkaspi/{operation}/`
for create, create-link, status and refund. Controls: `POST /payments/{id}/approve|decline|expire`,
`GET /payments`, `GET /payments/{id}`, `GET|POST /knobs`, `POST /reset`, `GET /requests`.

Faults model what a real proxy does when things break: `http_500`, `http_502` and `error_body`
answer before anything happens at Kaspi; `timeout` and `garbage` perform the operation and then
lose the answer (the dangerous case: a bill was pushed, the gateway does not know);
`hold_answer_ms` performs every operation at once and holds its answer, a window in which to kill
the gateway between Kaspi's acceptance and the gateway's record of it.
"""

from __future__ import annotations

import hmac
import random
import re
import string
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.identifiers import bin_checksum_ok

from simulators.base import FaultKnobs, SimulatorState, check_milliseconds, simulator_app, wait_or_disconnect

OPERATIONS = ("create", "create-link", "status", "refund")
FAULTS = ("none", "timeout", "http_500", "http_502", "error_body", "garbage")
SUCCESS_KEYS = ("status", "success")
# Kaspi writes its times in Kazakhstan time (`2025-10-22T17:10:50.717+05:00`).
KASPI_TIMEZONE = timezone(timedelta(hours=5))

WAIT = "Wait"
QR_TOKEN_CREATED = "QrTokenCreated"
PROCESSED = "Processed"
ERROR = "Error"
_PENDING = frozenset({QR_TOKEN_CREATED, "RemotePaymentCreated", WAIT})

# Kaspi's error codes (reference §2) for the refusals the simulator can give.
DEVICE_NOT_FOUND = ("-1501", "Device not found")
PURCHASE_NOT_FOUND = ("-1601", "Purchase not found")
OTHER_TRADE_POINT = ("-99000003", "Purchase belongs to another trade point")
REFUND_EXCEEDS = ("-99000005", "Refund amount exceeds the purchase amount")
WRONG_STATUS_FOR_REFUND = ("-99000011", "Purchase status does not allow a refund")
INVALID_AMOUNT = ("990000028", "Invalid amount")
SERVICE_UNAVAILABLE = ("-999", "Service temporarily unavailable")

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_AMOUNT = re.compile(r"\d{1,10}(?:\.\d{1,2})?")
_SECRET_PARAMS = frozenset({"access_token", "deviceToken"})


def _kaspi_now() -> datetime:
    return datetime.now(KASPI_TIMEZONE)


def _check_flag(_instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if type(value) is not bool:
        raise ValueError(f"{attribute.name} must be true or false")


@attrs.frozen
class Knobs(FaultKnobs):
    """How the simulated proxy misbehaves."""

    FAULTS = FAULTS
    OPERATIONS = OPERATIONS

    # The operation is done at once, its answer held this long (or until the client hangs up): the
    # window in which a gateway can die after Kaspi accepted but before it recorded the answer.
    hold_answer_ms: int = attrs.field(default=0, validator=check_milliseconds)
    empty_refund_body: bool = attrs.field(default=False, validator=_check_flag)
    success_key: str = attrs.field(default="status", validator=attrs.validators.in_(SUCCESS_KEYS))


@attrs.frozen
class RecordedRequest:
    """One call the proxy received; its secrets are already masked."""

    operation: str
    params: Mapping[str, str]

    @classmethod
    def masked(cls, operation: str, params: Mapping[str, str]) -> RecordedRequest:
        return cls(operation, {k: ("***" if k in _SECRET_PARAMS else v) for k, v in params.items()})

    def as_json(self) -> dict[str, Any]:
        return {"operation": self.operation, "params": dict(self.params)}


@attrs.frozen
class SimulatedRefund:
    return_operation_id: int
    amount: Decimal


@attrs.define
class SimulatedPayment:
    external_id: str
    kind: str  # "remote" or "link"
    organization_bin: str
    device_token: str | None = attrs.field(repr=False)
    amount: Decimal
    message: str
    status: str
    created_at: datetime
    phone: str | None = None
    payment_link: str | None = None
    expires_at: datetime | None = None
    closed_by: str | None = None  # "customer", "decline" or "expire"
    refunds: list[SimulatedRefund] = attrs.field(factory=list)

    @property
    def refunded(self) -> Decimal:
        return sum((r.amount for r in self.refunds), Decimal(0))

    def view(self) -> dict[str, Any]:
        """What a test may see; the device token is a secret and stays out."""
        return {
            "externalId": self.external_id,
            "kind": self.kind,
            "organizationBin": self.organization_bin,
            "amount": _json_number(self.amount),
            "phone": self.phone,
            "message": self.message,
            "status": self.status,
            "closedBy": self.closed_by,
            "paymentLink": self.payment_link,
            "expireDate": _kaspi_time(self.expires_at) if self.expires_at else None,
            "refunded": _json_number(self.refunded),
            "refunds": [
                {"returnOperationId": r.return_operation_id, "amount": _json_number(r.amount)} for r in self.refunds
            ],
        }


class UnknownPayment(LookupError):
    pass


class NotPending(ValueError):
    pass


class KaspiSimulatorState(SimulatorState[Knobs, RecordedRequest]):
    """The simulated proxy's memory: its payments, on the shared knobs and request log."""

    def __init__(
        self,
        *,
        latency_ms: int = 0,
        hang_seconds: float = 60.0,
        link_lifetime: timedelta = timedelta(minutes=3),
        clock: Callable[[], datetime] = _kaspi_now,
        seed: int | None = None,
    ) -> None:
        super().__init__(knobs=Knobs(latency_ms=latency_ms), hang_seconds=hang_seconds)
        self.link_lifetime = link_lifetime
        self._clock = clock
        self._random = random.Random(seed)
        self._payments: dict[str, SimulatedPayment] = {}
        self._issued: set[str] = set()

    def _forget(self) -> None:
        self._payments.clear()
        self._issued.clear()

    # --- The request log ------------------------------------------------------------------------

    def request_count(self, operation: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self._requests if operation is None or r.operation == operation)

    def wait_for_payments(self, count: int, *, timeout: float = 5.0) -> bool:
        """Block until `count` payments exist (created on the server's thread)."""
        return self._wait_until(lambda: len(self._payments) >= count, timeout)

    def wait_for_requests(self, operation: str, count: int, *, timeout: float = 5.0) -> bool:
        """Block until `count` calls of `operation` arrived (they arrive on the server's thread)."""
        return self._wait_until(lambda: self.request_count(operation) >= count, timeout)

    # --- Payments -----------------------------------------------------------------------------

    def payment(self, external_id: str) -> SimulatedPayment | None:
        with self._lock:
            found = self._payments.get(external_id)
            if found is not None:
                self._lapse_link(found)
            return attrs.evolve(found, refunds=list(found.refunds)) if found else None

    def view(self, external_id: str) -> dict[str, Any] | None:
        found = self.payment(external_id)
        return found.view() if found else None

    def payments(self) -> list[SimulatedPayment]:
        with self._lock:
            for payment in self._payments.values():
                self._lapse_link(payment)
            return [attrs.evolve(p, refunds=list(p.refunds)) for p in self._payments.values()]

    def approve(self, external_id: str) -> SimulatedPayment:
        """The customer paid."""
        return self._close(external_id, PROCESSED, "customer")

    def decline(self, external_id: str) -> SimulatedPayment:
        """The customer refused, or Kaspi declined the payment."""
        return self._close(external_id, ERROR, "decline")

    def expire(self, external_id: str) -> SimulatedPayment:
        """Kaspi's own cancellation of an unpaid bill (about 24 h) or link: the same `Error` status."""
        return self._close(external_id, ERROR, "expire")

    def _close(self, external_id: str, status: str, by: str) -> SimulatedPayment:
        with self._lock:
            found = self._payments.get(external_id)
            if found is None:
                raise UnknownPayment(external_id)
            self._lapse_link(found)
            if found.status not in _PENDING:
                raise NotPending(f"payment {external_id} is {found.status}")
            found.status = status
            found.closed_by = by
            return attrs.evolve(found, refunds=list(found.refunds))

    def _lapse_link(self, payment: SimulatedPayment) -> None:
        if payment.status in _PENDING and payment.expires_at is not None and self._clock() >= payment.expires_at:
            payment.status = ERROR
            payment.closed_by = "expire"

    # --- The proxy's operations (called by the app under validated input) -----------------------

    def create(
        self,
        *,
        kind: str,
        organization_bin: str,
        device_token: str | None,
        amount: Decimal,
        message: str,
        phone: str | None,
    ) -> SimulatedPayment:
        with self._lock:
            now = self._clock()
            payment = SimulatedPayment(
                external_id=self._new_id(),
                kind=kind,
                organization_bin=organization_bin,
                device_token=device_token,
                amount=amount,
                message=message,
                phone=phone,
                status=WAIT if kind == "remote" else QR_TOKEN_CREATED,
                created_at=now,
            )
            if kind == "link":
                payment.payment_link = "https://pay.kaspi.kz/pay/" + "".join(
                    self._random.choice(string.digits) for _ in range(41)
                )
                payment.expires_at = now + self.link_lifetime
            self._payments[payment.external_id] = payment
            self._lock.notify_all()
            return attrs.evolve(payment)

    def status_of(self, external_id: str) -> str | None:
        found = self.payment(external_id)
        return found.status if found else None

    def refund(
        self, *, external_id: str, organization_bin: str, amount: Decimal
    ) -> SimulatedRefund | tuple[str, str]:
        """The refund made, or the Kaspi error (code, message) that refused it."""
        with self._lock:
            found = self._payments.get(external_id)
            if found is None:
                return PURCHASE_NOT_FOUND
            self._lapse_link(found)
            if found.organization_bin != organization_bin:
                return OTHER_TRADE_POINT
            if found.status != PROCESSED:
                return WRONG_STATUS_FOR_REFUND
            if amount > found.amount - found.refunded:
                return REFUND_EXCEEDS
            refund = SimulatedRefund(return_operation_id=int(self._new_id()), amount=amount)
            found.refunds.append(refund)
            return refund

    def _new_id(self) -> str:
        # Production QrPaymentIds are 11 digits, e.g. 12800627774.
        while True:
            candidate = f"128{self._random.randrange(10**8):08d}"
            if candidate not in self._issued:
                self._issued.add(candidate)
                return candidate


# --- The ASGI app ---------------------------------------------------------------------------------


def create_kaspi_simulator(*, access_token: str, state: KaspiSimulatorState | None = None) -> Starlette:
    """The simulator as a Starlette app; mount it anywhere (the gateway uses `/sandbox/kaspi`)."""
    if not access_token:
        raise ValueError("the simulator needs an access token to check")
    endpoints = _Endpoints(access_token=access_token, state=state if state is not None else KaspiSimulatorState())
    return simulator_app(
        endpoints.state,
        [
            Route("/api/v2/paymentkaspi/{operation}/", endpoints.proxy, methods=["GET"]),
            Route("/payments", endpoints.list_payments, methods=["GET"]),
            Route("/payments/{external_id}", endpoints.show_payment, methods=["GET"]),
            Route("/payments/{external_id}/{action}", endpoints.control_payment, methods=["POST"]),
        ],
        empty_knobs_body_allowed=False,
    )


class _Endpoints:
    def __init__(self, *, access_token: str, state: KaspiSimulatorState) -> None:
        self._access_token = access_token.encode()
        self.state = state

    # --- The proxy --------------------------------------------------------------------------

    async def proxy(self, request: Request) -> Response:
        operation = request.path_params["operation"]
        params = dict(request.query_params)
        knobs = self.state.knobs
        self.state.record(RecordedRequest.masked(operation, params))
        await wait_or_disconnect(request, knobs.latency_ms / 1000)
        if not hmac.compare_digest(params.get("access_token", "").encode(), self._access_token):
            return _proxy_error(knobs, "Invalid access token", 401)
        if operation not in OPERATIONS:
            return _proxy_error(knobs, f"Unknown operation {operation}", 404)
        fault = self.state.take_fault(operation)
        if fault in ("http_500", "http_502"):
            status = 500 if fault == "http_500" else 502
            return Response(f"<html><body><h1>{status}</h1></body></html>", status, media_type="text/html")
        if fault == "error_body":
            return _kaspi_error(knobs, SERVICE_UNAVAILABLE)
        answer = self._perform(operation, params, knobs)
        await wait_or_disconnect(request, knobs.hold_answer_ms / 1000)
        if fault == "timeout":
            # The operation happened; its answer never arrives (until the client gives up).
            await wait_or_disconnect(request, self.state.hang_seconds)
            return Response("<html><body><h1>504 Gateway Time-out</h1></body></html>", 504, media_type="text/html")
        if fault == "garbage":
            return Response("<br />\n<b>Fatal error</b>: Uncaught TypeError in proxy.php", 200, media_type="text/html")
        return answer

    def _perform(self, operation: str, params: Mapping[str, str], knobs: Knobs) -> Response:
        if operation == "status":
            return self._status(params, knobs)
        bin_ = params.get("organizationBin", "")
        if not (len(bin_) == 12 and bin_.isascii() and bin_.isdigit() and bin_checksum_ok(bin_)):
            return _proxy_error(knobs, "organizationBin must be a 12-digit BIN with a valid check digit", 400)
        # No deviceToken: the proxy bills through its own device (the real sellers have none).
        device_token = params.get("deviceToken")
        if device_token is not None and not _GUID.fullmatch(device_token):
            return _kaspi_error(knobs, DEVICE_NOT_FOUND)
        amount = _amount(params.get("amount", ""))
        if amount is None:
            return _kaspi_error(knobs, INVALID_AMOUNT)
        if operation == "refund":
            return self._refund(params, bin_, amount, knobs)
        phone = None
        if operation == "create":
            phone = params.get("phone", "")
            if not (len(phone) == 11 and phone.isascii() and phone.isdigit() and phone[0] == "7"):
                return _proxy_error(knobs, "phone must be 11 digits starting with 7", 400)
        payment = self.state.create(
            kind="remote" if operation == "create" else "link",
            organization_bin=bin_,
            device_token=device_token,
            amount=amount,
            message=params.get("message", ""),
            phone=phone,
        )
        if operation == "create":
            return _success(knobs, {"externalId": payment.external_id, "status": payment.status}, http_code=True)
        assert payment.expires_at is not None
        return _success(
            knobs,
            {
                "paymentLink": payment.payment_link,
                "paymentId": payment.external_id,
                "expireDate": _kaspi_time(payment.expires_at),
            },
        )

    def _status(self, params: Mapping[str, str], knobs: Knobs) -> Response:
        external_id = params.get("externalId", "")
        if not external_id:
            return _proxy_error(knobs, "externalId is required", 400)
        status = self.state.status_of(external_id)
        if status is None:
            return _kaspi_error(knobs, PURCHASE_NOT_FOUND)
        return _success(knobs, {"externalId": external_id, "status": status})

    def _refund(self, params: Mapping[str, str], bin_: str, amount: Decimal, knobs: Knobs) -> Response:
        external_id = params.get("externalId", "")
        if not external_id:
            return _proxy_error(knobs, "externalId is required", 400)
        outcome = self.state.refund(external_id=external_id, organization_bin=bin_, amount=amount)
        if isinstance(outcome, tuple):
            return _kaspi_error(knobs, outcome)
        if knobs.empty_refund_body:
            return Response(b"", 200)  # what older proxy versions answer on success
        return _success(
            knobs,
            {
                "externalId": external_id,
                "returnOperationId": outcome.return_operation_id,
                "refundedAmount": _json_number(outcome.amount),
            },
        )

    # --- Controls -----------------------------------------------------------------------------

    async def list_payments(self, request: Request) -> Response:
        return JSONResponse({"payments": [p.view() for p in self.state.payments()]})

    async def show_payment(self, request: Request) -> Response:
        view = self.state.view(request.path_params["external_id"])
        if view is None:
            return JSONResponse({"error": "no such payment"}, 404)
        return JSONResponse(view)

    async def control_payment(self, request: Request) -> Response:
        external_id = request.path_params["external_id"]
        actions = {"approve": self.state.approve, "decline": self.state.decline, "expire": self.state.expire}
        action = actions.get(request.path_params["action"])
        if action is None:
            return JSONResponse({"error": f"actions are {', '.join(actions)}"}, 404)
        try:
            payment = action(external_id)
        except UnknownPayment:
            return JSONResponse({"error": "no such payment"}, 404)
        except NotPending as refusal:
            return JSONResponse({"error": str(refusal)}, 409)
        return JSONResponse(payment.view())


def _success(knobs: Knobs, data: Mapping[str, Any], *, http_code: bool = False) -> Response:
    body: dict[str, Any] = {knobs.success_key: True, "data": dict(data)}
    if http_code:
        body["http_code"] = 200
    return JSONResponse(body)


def _kaspi_error(knobs: Knobs, error: tuple[str, str]) -> Response:
    # Kaspi reports business errors with HTTP 200 and a code; the proxy passes them through.
    code, message = error
    return JSONResponse({knobs.success_key: False, "data": {"errors": {code: message}}})


def _proxy_error(knobs: Knobs, message: str, status: int) -> Response:
    return JSONResponse({knobs.success_key: False, "error": message}, status)


def _amount(text: str) -> Decimal | None:
    if not _AMOUNT.fullmatch(text):
        return None
    amount = Decimal(text)
    return amount if amount > 0 else None


def _json_number(amount: Decimal) -> int | float:
    # Kaspi writes whole tenge as integers (`"refundedAmount": 50`); a float of at most two
    # decimals round-trips exactly through its shortest repr.
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _kaspi_time(moment: datetime) -> str:
    return moment.astimezone(KASPI_TIMEZONE).isoformat(timespec="milliseconds")

