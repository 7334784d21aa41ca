"""The payment aggregate and its state machine."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from domain.errors import IllegalTransition, InvalidValue, PaymentNotRefundable, RefundExceedsRemaining
from domain.money import Money


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"  # funds held, waiting for capture or cancel (two-step payments)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class PaymentMethod(enum.StrEnum):
    REMOTE = "remote"  # a bill pushed to the customer's Kaspi app by phone
    LINK = "link"  # a payment link / QR the customer opens
    REDIRECT = "redirect"  # the customer is sent to the provider's hosted checkout page
    CARD = "card"  # the browser confirms with a client secret (cards, Apple Pay, Google Pay)
    # A wallet's button on the page, confirmed with the client secret: a card payment to Stripe.
    APPLE_PAY = "apple_pay"
    GOOGLE_PAY = "google_pay"


# What the browser confirms with a client secret: a card typed in, or a card from a wallet.
CARD_METHODS = frozenset({PaymentMethod.CARD, PaymentMethod.APPLE_PAY, PaymentMethod.GOOGLE_PAY})


_ALLOWED: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset(
        {
            PaymentStatus.AUTHORIZED,
            PaymentStatus.SUCCEEDED,
            PaymentStatus.FAILED,
            PaymentStatus.CANCELLED,
            PaymentStatus.EXPIRED,
        }
    ),
    PaymentStatus.AUTHORIZED: frozenset(
        {PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED}
    ),
    PaymentStatus.SUCCEEDED: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.PARTIALLY_REFUNDED: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.FAILED: frozenset(),
    PaymentStatus.CANCELLED: frozenset(),
    PaymentStatus.EXPIRED: frozenset(),
    PaymentStatus.REFUNDED: frozenset(),
}

REFUNDABLE = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED})
# What a provider's answer can settle an open payment into.
SETTLED = frozenset(
    {
        PaymentStatus.AUTHORIZED,
        PaymentStatus.SUCCEEDED,
        PaymentStatus.FAILED,
        PaymentStatus.CANCELLED,
        PaymentStatus.EXPIRED,
    }
)
# Payments whose outcome the provider still decides: status sync, the poller and webhooks act on them.
OPEN = frozenset({PaymentStatus.PENDING, PaymentStatus.AUTHORIZED})
# Closed without money; a provider that reports money taken for one of these was late, not wrong.
UNSUCCESSFUL = frozenset({PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED})
MONEY_TAKEN = frozenset({PaymentStatus.AUTHORIZED, PaymentStatus.SUCCEEDED})
# The error code of a payment paid at the provider after Paygate closed it: it needs an operator.
LATE_SUCCESS = "late_success"


def can_transition(current: PaymentStatus, requested: PaymentStatus) -> bool:
    return requested in _ALLOWED[current]


@attrs.define(eq=False)
class Payment:
    """One payment of one shop, routed to the shop's merchant account at one provider.

    `version` is the optimistic-lock counter: every stored change is a compare-and-set on it.
    Refunds are tracked as two sums so that concurrent refunds can never exceed what was paid:
    `refund_reserved` holds refunds sent to the provider whose outcome is not known yet.
    """

    id: str
    shop_id: int
    provider: str
    method: PaymentMethod
    amount: Money
    merchant_account: str
    description: str
    created_at: datetime
    updated_at: datetime
    status: PaymentStatus = PaymentStatus.PENDING
    provider_status: str | None = None
    external_id: str | None = None
    phone: str | None = None
    payment_link: str | None = None
    expires_at: datetime | None = None
    refunded: Money | None = None
    refund_reserved: Money | None = None
    idempotency_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    # Provider-neutral details the marketplace sends and gets back (the /v1 API).
    order_id: str | None = None
    customer_id: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)
    return_url: str | None = None
    manual_capture: bool = False
    # What the client needs next, as the provider allows: a hosted page or a secret for the browser.
    checkout_url: str | None = None
    client_secret: str | None = None
    # Provenance of the current status: who reported it (`api`, `poller`, `webhook:<provider>`,
    # `operator:<key name>`, `operator:cli`, `client_report`) and when the provider's state was seen.
    status_source: str | None = None
    status_observed_at: datetime | None = None
    # When the money was taken for good (first `succeeded`): the day a settlement report counts it on.
    succeeded_at: datetime | None = None
    # The card wallet that paid (`apple_pay`, `google_pay`), when the provider tells it.
    wallet: str | None = None
    version: int = 1

    def __attrs_post_init__(self) -> None:
        if self.refunded is None:
            self.refunded = Money.zero(self.amount.currency)
        if self.refund_reserved is None:
            self.refund_reserved = Money.zero(self.amount.currency)

    @property
    def is_final(self) -> bool:
        return not _ALLOWED[self.status]

    @property
    def refundable(self) -> Money:
        """What can still be refunded: paid, less refunded, less refunds in flight."""
        refunded, reserved = self._refund_sums()
        return self.amount - refunded - reserved

    def _refund_sums(self) -> tuple[Money, Money]:
        """(refunded, reserved): never None once built (`__attrs_post_init__` sets zeros)."""
        assert self.refunded is not None and self.refund_reserved is not None
        return self.refunded, self.refund_reserved

    def _move(self, requested: PaymentStatus, at: datetime) -> None:
        if not can_transition(self.status, requested):
            raise IllegalTransition(self.id, self.status.value, requested.value)
        self.status = requested
        self.updated_at = at
        if requested is PaymentStatus.SUCCEEDED and self.succeeded_at is None:
            self.succeeded_at = at

    def record_provider_acceptance(
        self,
        *,
        external_id: str,
        provider_status: str,
        at: datetime,
        payment_link: str | None = None,
        expires_at: datetime | None = None,
        checkout_url: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        """The provider took the payment and named it; it waits for the customer."""
        self.external_id = external_id
        self.provider_status = provider_status
        self.payment_link = payment_link
        self.checkout_url = checkout_url
        self.client_secret = client_secret
        if expires_at is not None:
            self.expires_at = expires_at
        self.updated_at = at

    def settle(
        self,
        outcome: PaymentStatus,
        *,
        provider_status: str | None,
        at: datetime,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> bool:
        """Apply what the provider says about an open payment; False when nothing changed.

        Only an open (pending or authorized) payment settles, and only into a payment outcome: refund states are reached
        through the refund methods alone, which keep `refunded` in step with the status.
        """
        if outcome is not self.status and (
            self.status not in OPEN or outcome not in SETTLED or not can_transition(self.status, outcome)
        ):
            raise IllegalTransition(self.id, self.status.value, outcome.value)
        if provider_status is not None:
            self.provider_status = provider_status
        if outcome is self.status:
            return False
        self._move(outcome, at)
        if self.error_code == LATE_SUCCESS and outcome in MONEY_TAKEN:
            return True  # a late hold captured later is still money an operator must look at
        # A success clears what an earlier unanswered attempt noted; a failure says why.
        self.error_code = error_code
        self.error_message = error_message
        return True

    def note_wallet(self, wallet: str | None) -> bool:
        """Record the wallet the provider says paid; False when it tells nothing new (an answer without one
        never erases one seen before)."""
        if wallet is None or wallet == self.wallet:
            return False
        self.wallet = wallet
        return True

    def note_declined_attempt(self, code: str, reason: str, at: datetime) -> bool:
        """A customer's attempt was declined where they may try again: still pending, the decline noted.

        False when this decline is noted already (the same attempt told twice).
        """
        if self.status is not PaymentStatus.PENDING:
            raise IllegalTransition(self.id, self.status.value, PaymentStatus.PENDING.value)
        if (self.error_code, self.error_message) == (code, reason):
            return False
        self.error_code = code
        self.error_message = reason
        self.updated_at = at
        return True

    def record_late_success(self, outcome: PaymentStatus, *, provider_status: str | None, at: datetime) -> None:
        """The provider took the money after the payment was closed here: the money is the truth.

        The payment moves to what the provider says (so it can be refunded) and stays flagged
        (`late_success`) for an operator: the marketplace may have given the order up.
        """
        if self.status not in UNSUCCESSFUL or outcome not in MONEY_TAKEN:
            raise IllegalTransition(self.id, self.status.value, outcome.value)
        previous = self.status.value
        self.status = outcome
        if outcome is PaymentStatus.SUCCEEDED and self.succeeded_at is None:
            self.succeeded_at = at
        if provider_status is not None:
            self.provider_status = provider_status
        self.error_code = LATE_SUCCESS
        self.error_message = f"paid at the provider after the payment was {previous} here: fulfil or refund it"
        self.updated_at = at

    def note_source(self, source: str | None, observed_at: datetime) -> None:
        """Record where the status just applied came from and when the provider was seen."""
        if source is not None:
            self.status_source = source
            self.status_observed_at = observed_at

    def note_unknown_outcome(self, code: str, reason: str, at: datetime) -> None:
        """The provider's answer was lost (timeout, 5xx): the payment stays pending, the attempt noted."""
        self.error_code = code
        self.error_message = reason
        self.updated_at = at

    def reserve_refund(self, amount: Money, at: datetime) -> None:
        """Hold `amount` against the paid sum before the provider is asked to refund it."""
        if self.status not in REFUNDABLE:
            raise PaymentNotRefundable(self.id, self.status.value)
        remaining = self.refundable
        if not amount.is_positive() or remaining < amount:
            raise RefundExceedsRemaining(self.id, amount.minor, remaining.minor, remaining.currency)
        self.refund_reserved = self._refund_sums()[1] + amount
        self.updated_at = at

    def complete_refund(self, amount: Money, at: datetime) -> None:
        """The provider refunded `amount`: it moves from reserved to refunded."""
        self._check_reserved(amount)
        already, reserved = self._refund_sums()
        refunded = already + amount
        fully = refunded == self.amount
        self._move(PaymentStatus.REFUNDED if fully else PaymentStatus.PARTIALLY_REFUNDED, at)
        self.refund_reserved = reserved - amount
        self.refunded = refunded

    def release_refund(self, amount: Money, at: datetime) -> None:
        """The provider refused the refund: the reservation is given back."""
        self._check_reserved(amount)
        self.refund_reserved = self._refund_sums()[1] - amount
        self.updated_at = at

    def _check_reserved(self, amount: Money) -> None:
        # Completing or releasing more than was reserved (or nothing at all) would break the
        # invariant refunded + reserved <= amount, or mark a payment refunded with nothing refunded.
        assert self.refund_reserved is not None
        if not amount.is_positive() or self.refund_reserved < amount:
            raise InvalidValue("amount", f"{amount} is not a positive part of the {self.refund_reserved} reserved")
