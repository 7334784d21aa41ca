"""The simulated Stripe's memory: PaymentIntents, Refunds and events per connected account, and its knobs.

Thread-safe: the simulator's server and a test's own thread both change it. `app.py` serves it
over Stripe's wire protocol; tests and the harnesses also act on it directly (the customer's side).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import attrs
import msgspec
import stripe

from simulators.base import FaultKnobs, SimulatorState, one_of

OPERATIONS = ("create", "retrieve", "capture", "cancel", "refund", "retrieve_refund", "list_refunds")
FAULTS = ("none", "timeout", "http_500", "http_502", "http_503")
SIGNATURES = ("valid", "forged", "stale", "none")
REFUND_STATUSES = ("succeeded", "pending", "requires_action", "failed")
# A refund still on its way: the settle control later makes it succeeded or failed.
REFUND_OPEN = frozenset({"pending", "requires_action"})
STALE_SIGNATURE_AGE = 600  # seconds: twice Stripe's default tolerance

# Statuses, in Stripe's words.
REQUIRES_PAYMENT_METHOD = "requires_payment_method"
REQUIRES_ACTION = "requires_action"
PROCESSING = "processing"
REQUIRES_CAPTURE = "requires_capture"
SUCCEEDED = "succeeded"
CANCELED = "canceled"
_PAYABLE = frozenset({REQUIRES_PAYMENT_METHOD, "requires_confirmation", REQUIRES_ACTION, PROCESSING})
_CANCELABLE = frozenset({REQUIRES_PAYMENT_METHOD, "requires_confirmation", REQUIRES_ACTION, REQUIRES_CAPTURE})


@attrs.frozen
class Knobs(FaultKnobs):
    """How the simulated Stripe misbehaves."""

    FAULTS = FAULTS
    OPERATIONS = OPERATIONS

    # What a new refund's status is: card refunds usually succeed at once; `pending` and
    # `requires_action` wait for the settle control (`POST /control/refunds/{id}/succeed|fail`).
    refund_status: str = attrs.field(default="succeeded", validator=one_of(REFUND_STATUSES))


@attrs.frozen
class RecordedRequest:
    """One request the simulator received; the secret key is already masked."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8", "replace"),
        }


@attrs.define
class SimulatedIntent:
    id: str
    account: str  # "" for the platform itself
    amount: int
    currency: str
    capture_method: str
    client_secret: str = attrs.field(repr=False)
    description: str | None
    metadata: dict[str, str]
    automatic_payment_methods: bool
    created: int
    status: str = REQUIRES_PAYMENT_METHOD
    amount_capturable: int = 0
    amount_received: int = 0
    latest_charge: str | None = None
    last_payment_error: dict[str, Any] | None = None
    canceled_at: int | None = None
    cancellation_reason: str | None = None
    refunded: int = 0
    payment_method_types: tuple[str, ...] = ("card", "link")
    # The card wallet that paid (`apple_pay`, `google_pay`), told by the latest Charge; None for a plain card.
    wallet: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": self.amount_capturable,
            "amount_received": self.amount_received,
            "automatic_payment_methods": (
                {"allow_redirects": "always", "enabled": True} if self.automatic_payment_methods else None
            ),
            "canceled_at": self.canceled_at,
            "cancellation_reason": self.cancellation_reason,
            "capture_method": self.capture_method,
            "client_secret": self.client_secret,
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "description": self.description,
            "last_payment_error": self.last_payment_error,
            "latest_charge": self.latest_charge,
            "livemode": False,
            "metadata": dict(self.metadata),
            "next_action": {"type": "use_stripe_sdk"} if self.status == REQUIRES_ACTION else None,
            "payment_method": None,
            "payment_method_types": list(self.payment_method_types),
            "status": self.status,
        }


@attrs.define
class SimulatedRefund:
    id: str
    account: str
    payment_intent: str
    charge: str | None
    amount: int
    currency: str
    status: str
    metadata: dict[str, str]
    reason: str | None
    created: int

    failure_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "balance_transaction": None,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "metadata": dict(self.metadata),
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": self.status,
            "transfer_reversal": None,
        }
        # Stripe's OpenAPI spec does not require `failure_reason`: it is there only on a failed refund.
        if self.status == "failed":
            document["failure_reason"] = self.failure_reason or "lost_or_stolen_card"
        return document


@attrs.frozen
class SimulatedEvent:
    id: str
    type: str
    account: str
    created: int
    object: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": self.id,
            "object": "event",
            "api_version": stripe.api_version,
            "created": self.created,
            "data": {"object": dict(self.object)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": self.type,
        }
        if self.account:
            event["account"] = self.account  # Connect events name the connected account
        return event


@attrs.define(str=False)
class StripeFailure(Exception):
    """An answer in Stripe's error shape: `{"error": {"type", "message", "code"?, "param"?}}`."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


@attrs.frozen
class StoredAnswer:
    fingerprint: tuple[Any, ...]
    status: int
    body: bytes


@attrs.frozen
class Delivery:
    """One webhook the simulator sent and what the receiver answered."""

    event_id: str
    type: str
    signature: str
    status_code: int | None
    body: str

    def as_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


class StripeSimulatorState(SimulatorState[Knobs, RecordedRequest]):
    """The simulated Stripe's memory: its objects and idempotency keys, on the shared knobs and request log."""

    def __init__(
        self,
        *,
        latency_ms: int = 0,
        hang_seconds: float = 60.0,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        super().__init__(knobs=Knobs(latency_ms=latency_ms), hang_seconds=hang_seconds)
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self._intents: dict[str, SimulatedIntent] = {}
        self._refunds: dict[str, SimulatedRefund] = {}
        self._events: list[SimulatedEvent] = []
        self._answers: dict[tuple[str, str], StoredAnswer] = {}
        self._running: set[tuple[str, str]] = set()

    def _forget(self) -> None:
        self._intents.clear()
        self._refunds.clear()
        self._events.clear()
        self._answers.clear()
        self._running.clear()

    # --- Idempotency ----------------------------------------------------------------------------

    def begin(self, scope: tuple[str, str], fingerprint: tuple[Any, ...]) -> StoredAnswer | StripeFailure | None:
        """The stored answer to replay, a refusal, or None: this request now owns the key."""
        with self._lock:
            stored = self._answers.get(scope)
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return StripeFailure(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{scope[1]}' if you meant to execute a "
                        "different request.",
                        type="idempotency_error",
                    )
                return stored
            if scope in self._running:
                return StripeFailure(
                    409,
                    "There is currently another in-progress request using this Stripe-Idempotency-Key. "
                    "Please try again later.",
                    code="idempotency_key_in_use",
                )
            self._running.add(scope)
            return None

    def finish(self, scope: tuple[str, str], answer: StoredAnswer | None) -> None:
        """Release the key; store the answer when the operation ran (a validation error is not kept)."""
        with self._lock:
            self._running.discard(scope)
            if answer is not None:
                self._answers[scope] = answer

    # --- Objects ---------------------------------------------------------------------------------

    def intent(self, intent_id: str) -> SimulatedIntent | None:
        """Any account's PaymentIntent, for tests and controls."""
        with self._lock:
            found = self._intents.get(intent_id)
            return attrs.evolve(found, metadata=dict(found.metadata)) if found else None

    def intents(self) -> list[SimulatedIntent]:
        with self._lock:
            return [attrs.evolve(i, metadata=dict(i.metadata)) for i in self._intents.values()]

    def refunds_of(self, intent_id: str) -> list[SimulatedRefund]:
        with self._lock:
            return [attrs.evolve(r) for r in self._refunds.values() if r.payment_intent == intent_id]

    @property
    def events(self) -> list[SimulatedEvent]:
        with self._lock:
            return list(self._events)

    def event(self, event_id: str) -> SimulatedEvent | None:
        with self._lock:
            return next((e for e in self._events if e.id == event_id), None)

    # --- Stripe's operations (called by the app with parsed, validated parameters) ----------------

    def create_intent(
        self,
        *,
        account: str,
        amount: int,
        currency: str,
        capture_method: str,
        description: str | None,
        metadata: dict[str, str],
        automatic_payment_methods: bool,
        payment_method_types: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            intent_id = new_id("pi")
            intent = SimulatedIntent(
                id=intent_id,
                account=account,
                amount=amount,
                currency=currency,
                capture_method=capture_method,
                client_secret=f"{intent_id}_secret_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}",
                description=description,
                metadata=metadata,
                automatic_payment_methods=automatic_payment_methods and payment_method_types is None,
                created=int(time.time()),
                payment_method_types=payment_method_types or ("card", "link"),
            )
            self._intents[intent_id] = intent
            self._emit("payment_intent.created", intent)
            return intent.as_json()

    def retrieve_intent(self, *, account: str, intent_id: str, expand_charge: bool = False) -> dict[str, Any]:
        """The PaymentIntent; with `expand[]=latest_charge`, its Charge object in place of the id."""
        with self._lock:
            intent = self._owned(account, intent_id)
            answer = intent.as_json()
            if expand_charge and intent.latest_charge is not None:
                answer["latest_charge"] = self._charge(intent)
            return answer

    def capture_intent(self, *, account: str, intent_id: str, amount_to_capture: int | None) -> dict[str, Any]:
        with self._lock:
            intent = self._owned(account, intent_id)
            if intent.status != REQUIRES_CAPTURE:
                raise StripeFailure(
                    400,
                    f"This PaymentIntent could not be captured because it has a status of {intent.status}. "
                    "Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
                    code="payment_intent_unexpected_state",
                )
            amount = intent.amount_capturable if amount_to_capture is None else amount_to_capture
            if amount > intent.amount_capturable:
                raise StripeFailure(
                    400,
                    f"The amount to capture ({amount}) is greater than the amount capturable "
                    f"({intent.amount_capturable}).",
                    code="amount_too_large",
                    param="amount_to_capture",
                )
            # A partial capture releases the rest of the hold.
            intent.amount_received = amount
            intent.amount_capturable = 0
            intent.status = SUCCEEDED
            self._emit("payment_intent.succeeded", intent)
            return intent.as_json()

    def cancel_intent(self, *, account: str, intent_id: str, reason: str | None) -> dict[str, Any]:
        with self._lock:
            intent = self._owned(account, intent_id)
            if intent.status not in _CANCELABLE:
                raise StripeFailure(
                    400,
                    f"You cannot cancel this PaymentIntent because it has a status of {intent.status}. Only a "
                    "PaymentIntent with one of the following statuses may be canceled: requires_payment_method, "
                    "requires_capture, requires_confirmation, requires_action, processing.",
                    code="payment_intent_unexpected_state",
                )
            intent.status = CANCELED
            intent.amount_capturable = 0
            intent.canceled_at = int(time.time())
            intent.cancellation_reason = reason
            self._emit("payment_intent.canceled", intent)
            return intent.as_json()

    def create_refund(
        self, *, account: str, intent_id: str, amount: int | None, metadata: dict[str, str], reason: str | None
    ) -> dict[str, Any]:
        with self._lock:
            intent = self._owned(account, intent_id, param="payment_intent")
            if intent.status != SUCCEEDED:
                raise StripeFailure(
                    400,
                    f"This PaymentIntent ({intent.id}) does not have a successful charge to refund.",
                    code="payment_intent_unexpected_state",
                    param="payment_intent",
                )
            remaining = intent.amount_received - intent.refunded
            if remaining <= 0:
                raise StripeFailure(
                    400, f"Charge {intent.latest_charge} has already been refunded.", code="charge_already_refunded"
                )
            refund_amount = remaining if amount is None else amount
            if refund_amount > remaining:
                raise StripeFailure(
                    400,
                    f"Refund amount ({_shown(refund_amount, intent.currency)}) is greater than unrefunded amount on "
                    f"charge ({_shown(remaining, intent.currency)})",
                    code="amount_too_large",
                    param="amount",
                )
            status = self._knobs.refund_status
            refund = SimulatedRefund(
                id=new_id("re"),
                account=account,
                payment_intent=intent.id,
                charge=intent.latest_charge,
                amount=refund_amount,
                currency=intent.currency,
                status=status,
                metadata=metadata,
                reason=reason,
                created=int(time.time()),
            )
            self._refunds[refund.id] = refund
            if status != "failed":
                intent.refunded += refund_amount
            self._emit_object("refund.created", account, refund.as_json())
            if status == "succeeded":
                self._emit_object("charge.refunded", account, self._charge(intent))
            return refund.as_json()

    def list_refunds(
        self, *, account: str, intent_id: str | None, limit: int, starting_after: str | None
    ) -> dict[str, Any]:
        """`GET /v1/refunds`: newest first, a page of `limit` after the cursor."""
        with self._lock:
            found = [
                r for r in reversed(self._refunds.values())
                if r.account == account and (intent_id is None or r.payment_intent == intent_id)
            ]
            if starting_after is not None:
                ids = [r.id for r in found]
                found = found[ids.index(starting_after) + 1:] if starting_after in ids else []
            page = found[:limit]
            return {
                "object": "list",
                "data": [r.as_json() for r in page],
                "has_more": len(found) > limit,
                "url": "/v1/refunds",
            }

    def settle_refund(self, refund_id: str, *, succeed: bool, failure_reason: str = "declined") -> list[SimulatedEvent]:
        """A pending refund's final word: the money went back, or the bank refused it (given back to the balance)."""
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None:
                raise LookupError(refund_id)
            if refund.status not in REFUND_OPEN:
                raise ValueError(f"refund {refund_id} is {refund.status}")
            before = len(self._events)
            intent = self._intents[refund.payment_intent]
            if succeed:
                refund.status = "succeeded"
                self._emit_object("refund.updated", refund.account, refund.as_json())
                self._emit_object("charge.refunded", refund.account, self._charge(intent))
            else:
                refund.status = "failed"
                refund.failure_reason = failure_reason
                intent.refunded -= refund.amount
                self._emit_object("refund.updated", refund.account, refund.as_json())
                self._emit_object("refund.failed", refund.account, refund.as_json())
            return self._events[before:]

    def retrieve_refund(self, *, account: str, refund_id: str) -> dict[str, Any]:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None or refund.account != account:
                raise StripeFailure(404, f"No such refund: '{refund_id}'", code="resource_missing", param="id")
            return refund.as_json()

    # --- The customer's side (controls) ----------------------------------------------------------

    def pay(self, intent_id: str, *, wallet: str | None = None) -> list[SimulatedEvent]:
        """The customer confirmed in the browser and the card (in `wallet`, if one) went through."""
        with self._lock:
            intent = self._payable(intent_id)
            intent.latest_charge = new_id("ch")
            intent.wallet = wallet
            intent.last_payment_error = None
            before = len(self._events)
            if intent.capture_method == "manual":
                intent.status = REQUIRES_CAPTURE
                intent.amount_capturable = intent.amount
                self._emit("payment_intent.amount_capturable_updated", intent)
            else:
                intent.status = SUCCEEDED
                intent.amount_received = intent.amount
                self._emit("payment_intent.succeeded", intent)
            return self._events[before:]

    def decline(self, intent_id: str, *, decline_code: str = "insufficient_funds") -> list[SimulatedEvent]:
        """The customer's card was declined: the PaymentIntent waits for another payment method."""
        with self._lock:
            intent = self._payable(intent_id)
            intent.status = REQUIRES_PAYMENT_METHOD
            intent.last_payment_error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline_code,
                "message": "Your card was declined.",
            }
            before = len(self._events)
            self._emit("payment_intent.payment_failed", intent)
            return self._events[before:]

    def require_action(self, intent_id: str) -> list[SimulatedEvent]:
        """The bank asks the customer for 3-D Secure."""
        return self._move(intent_id, REQUIRES_ACTION, "payment_intent.requires_action")

    def process(self, intent_id: str) -> list[SimulatedEvent]:
        """An asynchronous payment method: the outcome comes later."""
        return self._move(intent_id, PROCESSING, "payment_intent.processing")

    def doctored_event(self, intent_id: str, event_type: str, status: str | None) -> SimulatedEvent:
        """An event about a PaymentIntent whose snapshot claims `status` (for forged-webhook tests)."""
        with self._lock:
            intent = self._intents.get(intent_id)
            if intent is None:
                raise LookupError(intent_id)
            snapshot = intent.as_json()
            if status is not None:
                snapshot["status"] = status
            return self._emit_object(event_type, intent.account, snapshot)

    def _move(self, intent_id: str, status: str, event_type: str) -> list[SimulatedEvent]:
        with self._lock:
            intent = self._payable(intent_id)
            intent.status = status
            before = len(self._events)
            self._emit(event_type, intent)
            return self._events[before:]

    # --- Helpers (called with the lock held) -------------------------------------------------------

    def _owned(self, account: str, intent_id: str, *, param: str = "intent") -> SimulatedIntent:
        intent = self._intents.get(intent_id)
        if intent is None or intent.account != account:
            # Another account's object does not exist for this one, exactly as at Stripe.
            raise StripeFailure(404, f"No such payment_intent: '{intent_id}'", code="resource_missing", param=param)
        return intent

    def _payable(self, intent_id: str) -> SimulatedIntent:
        intent = self._intents.get(intent_id)
        if intent is None:
            raise LookupError(intent_id)
        if intent.status not in _PAYABLE:
            raise ValueError(f"payment intent {intent_id} is {intent.status}")
        return intent

    def _emit(self, event_type: str, intent: SimulatedIntent) -> SimulatedEvent:
        return self._emit_object(event_type, intent.account, intent.as_json())

    def _emit_object(self, event_type: str, account: str, data: dict[str, Any]) -> SimulatedEvent:
        event = SimulatedEvent(
            id=new_id("evt"), type=event_type, account=account, created=int(time.time()), object=data
        )
        self._events.append(event)
        return event

    def _charge(self, intent: SimulatedIntent) -> dict[str, Any]:
        """The PaymentIntent's Charge with every field Stripe's OpenAPI spec requires of one."""
        return {
            "id": intent.latest_charge,
            "object": "charge",
            "amount": intent.amount_received,
            "amount_captured": intent.amount_received,
            "amount_refunded": intent.refunded,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": None,
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "calculated_statement_descriptor": None,
            "captured": True,
            "created": intent.created,
            "currency": intent.currency,
            "customer": None,
            "description": intent.description,
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "fraud_details": {},
            "livemode": False,
            "metadata": dict(intent.metadata),
            "on_behalf_of": None,
            "outcome": {"network_status": "approved_by_network", "reason": None, "risk_level": "normal",
                        "seller_message": "Payment complete.", "type": "authorized"},
            "paid": True,
            "payment_intent": intent.id,
            "payment_method": None,
            "payment_method_details": {"type": "card", "card": {"wallet": _wallet(intent.wallet)}},
            "receipt_email": None,
            "receipt_number": None,
            "receipt_url": None,
            "refunded": intent.refunded == intent.amount_received,
            "review": None,
            "shipping": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded",
            "transfer_data": None,
            "transfer_group": None,
        }


def signed_event(event: SimulatedEvent, secret: str, *, signature: str = "valid") -> tuple[bytes, dict[str, str]]:
    """The body and headers Stripe sends for `event`; `signature` other than `valid` makes a bad one."""
    if signature not in SIGNATURES:
        raise ValueError(f"signature must be one of {', '.join(SIGNATURES)}")
    payload = api_json(event.as_json()).decode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    if signature != "none":
        now = int(time.time())
        timestamp = now - STALE_SIGNATURE_AGE if signature == "stale" else now
        key = f"whsec_{secrets.token_hex(16)}" if signature == "forged" else secret
        headers["Stripe-Signature"] = stripe.WebhookSignature.generate_signature_header(
            payload, key, timestamp=timestamp
        )
    return payload.encode("utf-8"), headers


def api_json(content: Any) -> bytes:
    """A body as Stripe writes its answers and events: JSON in UTF-8, indented by two spaces."""
    return msgspec.json.format(msgspec.json.encode(content), indent=2)


def _wallet(wallet: str | None) -> dict[str, Any] | None:
    """A Charge's `payment_method_details.card.wallet`: the type, and a hash named after it."""
    return {"type": wallet, wallet: {}} if wallet else None


def new_id(prefix: str) -> str:
    """An id in Stripe's style: `pi_3...`, `re_3...`, `evt_3...`."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return f"{prefix}_3" + "".join(secrets.choice(alphabet) for _ in range(23))


def _shown(minor: int, currency: str) -> str:
    return f"{minor} {currency}"
