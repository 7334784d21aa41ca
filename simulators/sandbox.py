"""The sandbox gateway: a simulated payment provider living in the process, for demos and tests.

It behaves like a card acquirer with hosted pages: card payments are decided at once (approved
with `success_rate`, otherwise declined for one of `failure_reasons`), links and redirects wait for
the customer (the control app's `pay` / `decline`). Two-step payments are authorised, then captured
or cancelled; refunds are partial and repeatable up to what was captured. Every write is idempotent
by the key the adapter sends. Draws come from one `random.Random(seed)`: the same seed and the same
calls give the same outcomes.

Controls (mounted at `/sandbox/sandbox` on the gateway's port when the sandbox is on):
`GET /payments`, `GET /payments/{id}`, `POST /payments/{id}/pay` (optional `{"outcome": "success" |
<reason>}`), `POST /payments/{id}/decline` (optional `{"reason": ...}`), `GET|POST /knobs`
(`success_rate`, `latency_ms`, `failure_reasons`, `fault`: `timeout` | `unavailable`, `fault_count`),
`POST /reset`, `GET /requests`.
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from simulators.base import NotAJsonObject, check_milliseconds, json_object

_Answer = TypeVar("_Answer")

# Why a sandbox card is declined: the reasons a real acquirer gives most often.
FAILURE_REASONS: dict[str, str] = {
    "insufficient_funds": "The card has insufficient funds",
    "card_declined": "The card was declined by its issuer",
    "expired_card": "The card has expired",
    "incorrect_cvc": "The card's security code is incorrect",
    "processing_error": "An error occurred while processing the card",
    "lost_card": "The card was reported lost",
}
SUCCESS = "success"
# A payment's `metadata["sandbox_outcome"]` forces its outcome, like a test card number does at a
# real provider: "success" or one of FAILURE_REASONS.
OUTCOME_METADATA_KEY = "sandbox_outcome"
FAULTS = ("timeout", "unavailable")
METHODS = ("card", "link", "redirect", "remote")

PENDING = "pending"  # waiting for the customer (link, redirect, push)
AUTHORIZED = "authorized"  # funds held, waiting for capture or cancel
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"

# How long a customer has to open a link or a checkout page.
PAYMENT_LIFETIME = timedelta(hours=1)


class SandboxRefusal(Exception):
    """A definite no from the sandbox (what a 4xx is at a real provider)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SandboxUnavailable(Exception):
    """The sandbox answered nothing usable; nothing was done (what a 503 is at a real provider)."""


@attrs.define
class SandboxPayment:
    id: str
    account: str
    amount: int  # minor units
    currency: str
    method: str
    manual_capture: bool
    description: str
    status: str
    created_at: datetime
    expires_at: datetime | None = None
    failure_reason: str | None = None
    forced_outcome: str | None = None
    refunded: int = 0
    checkout_url: str | None = None
    client_secret: str | None = None
    payment_link: str | None = None

    def snapshot(self) -> SandboxPayment:
        return attrs.evolve(self)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account": self.account,
            "amount": self.amount,
            "currency": self.currency,
            "method": self.method,
            "capture": not self.manual_capture,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "refunded": self.refunded,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@attrs.frozen
class SandboxRefund:
    id: str
    payment_id: str
    amount: int


@attrs.frozen
class SandboxCall:
    """One call as the sandbox received it: what a provider's request log would show (no secret)."""

    operation: str
    idempotency_key: str | None
    account: str
    payment_id: str | None = None
    amount: int | None = None


def _check_rate(_instance: object, _attribute: object, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError("success_rate must be between 0 and 1")


def _check_reasons(_instance: object, _attribute: object, value: tuple[str, ...]) -> None:
    unknown = set(value) - set(FAILURE_REASONS)
    if not value or unknown:
        raise ValueError(f"failure_reasons must be among {', '.join(FAILURE_REASONS)}")


def _as_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.define
class SandboxKnobs:
    success_rate: float = attrs.field(default=1.0, validator=_check_rate)
    latency_ms: int = attrs.field(default=0, validator=check_milliseconds)
    failure_reasons: tuple[str, ...] = attrs.field(
        default=tuple(FAILURE_REASONS), converter=_as_tuple, validator=_check_reasons
    )

    def as_json(self) -> dict[str, Any]:
        return {
            "success_rate": self.success_rate,
            "latency_ms": self.latency_ms,
            "failure_reasons": list(self.failure_reasons),
        }


def _now() -> datetime:
    return datetime.now(UTC)


class SandboxGateway:
    """The simulated provider's state. Every operation is async: it takes the configured latency,
    and a `timeout` fault performs the operation and then never answers (the caller's timeout
    decides), which is the dangerous case a real network produces."""

    def __init__(
        self,
        *,
        seed: int | None = None,
        knobs: SandboxKnobs | None = None,
        public_url: str = "http://127.0.0.1:8015/sandbox/sandbox",
        now: Callable[[], datetime] = _now,
    ) -> None:
        self._seed = seed
        self._random = random.Random(seed)
        self.knobs = knobs or SandboxKnobs()
        self._public_url = public_url.rstrip("/")
        self._now = now
        self._payments: dict[str, SandboxPayment] = {}
        self._by_key: dict[str, str] = {}  # idempotency key -> payment id
        self._actions: dict[str, SandboxPayment | SandboxRefund] = {}  # idempotency key -> the answer given
        self._faults: deque[str] = deque()
        self._sequence = 0
        self.calls: list[SandboxCall] = []

    # --- what the adapter calls -------------------------------------------------------------------

    async def create(
        self,
        *,
        account: str,
        amount: int,
        currency: str,
        method: str,
        manual_capture: bool,
        description: str,
        idempotency_key: str,
        outcome: str | None = None,
    ) -> SandboxPayment:
        call = SandboxCall("create", idempotency_key, account, amount=amount)

        def perform() -> SandboxPayment:
            if method not in METHODS:
                raise SandboxRefusal("unsupported_method", f"the sandbox has no {method!r} payments")
            if amount <= 0:
                raise SandboxRefusal("invalid_amount", "the amount must be positive")
            if outcome is not None and outcome != SUCCESS and outcome not in FAILURE_REASONS:
                raise SandboxRefusal("invalid_outcome", f"{OUTCOME_METADATA_KEY} must be success or a failure reason")
            earlier = self._by_key.get(idempotency_key)
            if earlier is not None:
                return self._payments[earlier].snapshot()
            now = self._now()
            payment = SandboxPayment(
                id=self._new_id("sbx"),
                account=account,
                amount=amount,
                currency=currency,
                method=method,
                manual_capture=manual_capture,
                description=description,
                status=PENDING,
                created_at=now,
                forced_outcome=outcome,
            )
            if method == "card":
                payment.client_secret = f"{payment.id}_secret_{secrets.token_hex(8)}"
                self._decide(payment)  # the sandbox confirms the card at once
            else:
                payment.expires_at = now + PAYMENT_LIFETIME
                page = f"{self._public_url}/checkout/{payment.id}"
                payment.checkout_url = page if method == "redirect" else None
                payment.payment_link = page if method == "link" else None
            self._payments[payment.id] = payment
            self._by_key[idempotency_key] = payment.id
            return payment.snapshot()

        return await self._answer(call, perform)

    async def status(self, *, account: str, payment_id: str) -> SandboxPayment:
        return await self._answer(
            SandboxCall("status", None, account, payment_id), lambda: self._owned(account, payment_id).snapshot()
        )

    async def capture(self, *, account: str, payment_id: str, idempotency_key: str) -> SandboxPayment:
        return await self._answer(
            SandboxCall("capture", idempotency_key, account, payment_id),
            lambda: self._move(
                account, payment_id, idempotency_key,
                allowed=(AUTHORIZED,), to=SUCCEEDED, refusal="payment_not_capturable",
            ),
        )

    async def cancel(self, *, account: str, payment_id: str, idempotency_key: str) -> SandboxPayment:
        return await self._answer(
            SandboxCall("cancel", idempotency_key, account, payment_id),
            lambda: self._move(
                account, payment_id, idempotency_key,
                allowed=(PENDING, AUTHORIZED), to=CANCELLED, refusal="payment_not_cancellable",
            ),
        )

    async def refund(self, *, account: str, payment_id: str, amount: int, idempotency_key: str) -> SandboxRefund:
        def perform() -> SandboxRefund:
            payment = self._owned(account, payment_id)
            earlier = self._actions.get(idempotency_key)
            if isinstance(earlier, SandboxRefund):
                if (earlier.payment_id, earlier.amount) != (payment_id, amount):
                    raise SandboxRefusal("idempotency_key_reused", "this idempotency key was used for another refund")
                return earlier
            if payment.status != SUCCEEDED:
                raise SandboxRefusal("payment_not_refundable", f"payment {payment_id} is {payment.status}")
            remaining = payment.amount - payment.refunded
            if not 0 < amount <= remaining:
                raise SandboxRefusal(
                    "refund_exceeds_remaining", f"a refund of {amount} exceeds the {remaining} left on {payment_id}"
                )
            payment.refunded += amount
            refund = SandboxRefund(self._new_id("sbx_re"), payment_id, amount)
            self._actions[idempotency_key] = refund
            return refund

        return await self._answer(SandboxCall("refund", idempotency_key, account, payment_id, amount), perform)

    # --- the customer's side and the operator's knobs ----------------------------------------------

    def customer_pays(self, payment_id: str, outcome: str | None = None) -> SandboxPayment:
        """The customer completes the checkout: approved, or declined as `outcome` (drawn if None)."""
        payment = self._find(payment_id)
        if payment.status != PENDING:
            raise SandboxRefusal("payment_not_pending", f"payment {payment_id} is {payment.status}")
        if outcome is not None:
            if outcome != SUCCESS and outcome not in FAILURE_REASONS:
                raise SandboxRefusal(
                    "invalid_outcome", f"outcome must be success or one of {', '.join(FAILURE_REASONS)}"
                )
            payment.forced_outcome = outcome
        self._decide(payment)
        return payment.snapshot()

    def customer_declines(self, payment_id: str, reason: str = "card_declined") -> SandboxPayment:
        return self.customer_pays(payment_id, reason)

    def fail_next(self, fault: str, count: int = 1) -> None:
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}")
        self._faults.extend([fault] * count)

    def payments(self) -> Sequence[SandboxPayment]:
        return [p.snapshot() for p in self._payments.values()]

    def payment(self, payment_id: str) -> SandboxPayment:
        return self._find(payment_id).snapshot()

    def reset(self) -> None:
        self._random = random.Random(self._seed)
        self._payments.clear()
        self._by_key.clear()
        self._actions.clear()
        self._faults.clear()
        self.calls.clear()

    # --- inside -------------------------------------------------------------------------------------

    async def _answer(self, call: SandboxCall, perform: Callable[[], _Answer]) -> _Answer:
        self.calls.append(call)
        if self.knobs.latency_ms:
            await anyio.sleep(self.knobs.latency_ms / 1000)
        fault = self._faults.popleft() if self._faults else None
        if fault == "unavailable":
            raise SandboxUnavailable(f"sandbox {call.operation}: service unavailable")
        result = perform()
        if fault == "timeout":
            # Done, but the answer never comes back: only the caller's timeout ends the wait.
            await anyio.sleep_forever()
        return result

    def _move(
        self, account: str, payment_id: str, idempotency_key: str, *, allowed: Collection[str], to: str, refusal: str
    ) -> SandboxPayment:
        """A capture or a cancel: from one of the `allowed` statuses `to` another, once per idempotency key."""
        payment = self._owned(account, payment_id)
        earlier = self._actions.get(idempotency_key)
        if isinstance(earlier, SandboxPayment) and earlier.id == payment_id:
            return payment.snapshot()
        if payment.status not in allowed:
            raise SandboxRefusal(refusal, f"payment {payment_id} is {payment.status}")
        payment.status = to
        self._actions[idempotency_key] = payment.snapshot()
        return payment.snapshot()

    def _decide(self, payment: SandboxPayment) -> None:
        outcome = payment.forced_outcome
        if outcome is None:
            approved = self._random.random() < self.knobs.success_rate
            outcome = SUCCESS if approved else self._random.choice(self.knobs.failure_reasons)
        if outcome == SUCCESS:
            payment.status = AUTHORIZED if payment.manual_capture else SUCCEEDED
        else:
            payment.status = FAILED
            payment.failure_reason = outcome

    def _owned(self, account: str, payment_id: str) -> SandboxPayment:
        payment = self._payments.get(payment_id)
        if payment is None or payment.account != account:
            # Another merchant's payment does not exist for this one.
            raise SandboxRefusal("payment_not_found", f"no payment {payment_id} on this account")
        if payment.status == PENDING and payment.expires_at is not None and self._now() >= payment.expires_at:
            payment.status = EXPIRED
        return payment

    def _find(self, payment_id: str) -> SandboxPayment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise SandboxRefusal("payment_not_found", f"no payment {payment_id}")
        return payment

    def _new_id(self, prefix: str) -> str:
        self._sequence += 1
        return f"{prefix}_{self._sequence:06d}{secrets.token_hex(4)}"


# --- the control app (demos, acceptance tests) ------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        return await json_object(request)
    except NotAJsonObject as refusal:
        raise SandboxRefusal("invalid_json", str(refusal)) from None


def create_sandbox_controls(gateway: SandboxGateway) -> Starlette:
    """The customer's and the operator's side of the sandbox over HTTP."""

    def refused(error: SandboxRefusal) -> JSONResponse:
        status = 404 if error.code == "payment_not_found" else 409 if error.code.startswith("payment_") else 422
        return JSONResponse({"error": {"code": error.code, "message": error.message}}, status_code=status)

    async def list_payments(_request: Request) -> JSONResponse:
        return JSONResponse({"payments": [p.as_json() for p in gateway.payments()]})

    async def show(request: Request) -> JSONResponse:
        try:
            return JSONResponse(gateway.payment(request.path_params["payment_id"]).as_json())
        except SandboxRefusal as error:
            return refused(error)

    async def pay(request: Request) -> JSONResponse:
        try:
            body = await _json_body(request)
            outcome = body.get("outcome")
            return JSONResponse(gateway.customer_pays(request.path_params["payment_id"], outcome).as_json())
        except SandboxRefusal as error:
            return refused(error)

    async def decline(request: Request) -> JSONResponse:
        try:
            body = await _json_body(request)
            reason = body.get("reason") or "card_declined"
            return JSONResponse(gateway.customer_declines(request.path_params["payment_id"], reason).as_json())
        except SandboxRefusal as error:
            return refused(error)

    async def knobs(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = await _json_body(request)
                knobs = ("success_rate", "latency_ms", "failure_reasons")
                changes: dict[str, Any] = {k: body[k] for k in knobs if k in body}
                gateway.knobs = SandboxKnobs(**{**gateway.knobs.as_json(), **changes})
                if body.get("fault") is not None:
                    gateway.fail_next(str(body["fault"]), int(body.get("fault_count", 1)))
            except SandboxRefusal as error:
                return refused(error)
            except (TypeError, ValueError) as error:
                return JSONResponse({"error": {"code": "invalid_value", "message": str(error)}}, status_code=422)
        return JSONResponse(gateway.knobs.as_json())

    async def reset(_request: Request) -> JSONResponse:
        gateway.reset()
        return JSONResponse({"reset": True})

    async def requests_seen(_request: Request) -> JSONResponse:
        return JSONResponse({"requests": [attrs.asdict(call) for call in gateway.calls]})

    return Starlette(
        routes=[
            Route("/payments", list_payments, methods=["GET"]),
            Route("/payments/{payment_id}", show, methods=["GET"]),
            Route("/checkout/{payment_id}", show, methods=["GET"]),
            Route("/payments/{payment_id}/pay", pay, methods=["POST"]),
            Route("/payments/{payment_id}/decline", decline, methods=["POST"]),
            Route("/knobs", knobs, methods=["GET", "POST"]),
            Route("/reset", reset, methods=["POST"]),
            Route("/requests", requests_seen, methods=["GET"]),
        ]
    )
