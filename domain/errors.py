"""Domain errors: each one carries the data an operator or a client needs to act on it."""

from __future__ import annotations

import attrs


class DomainError(Exception):
    """Base of every rule the domain refuses to break."""

    code = "domain_error"

    def __str__(self) -> str:
        return self.message

    @property
    def message(self) -> str:  # pragma: no cover - every subclass overrides
        return self.code


@attrs.define(str=False)
class InvalidValue(DomainError):
    """A value object refused its input; `field` names what was wrong."""

    field: str
    reason: str
    code = "invalid_value"

    @property
    def message(self) -> str:
        return self.reason


@attrs.define(str=False)
class IllegalTransition(DomainError):
    payment_id: str
    current: str
    requested: str
    code = "illegal_transition"

    @property
    def message(self) -> str:
        return f"payment {self.payment_id} cannot go from {self.current} to {self.requested}"


@attrs.define(str=False)
class CurrencyMismatch(DomainError):
    expected: str
    got: str
    code = "currency_mismatch"

    @property
    def message(self) -> str:
        return f"expected an amount in {self.expected}, got {self.got}"


@attrs.define(str=False)
class RefundExceedsRemaining(DomainError):
    payment_id: str
    requested_minor: int
    remaining_minor: int
    currency: str
    code = "refund_exceeds_remaining"

    @property
    def message(self) -> str:
        from domain.money import Money  # money.py imports this module

        requested = Money(self.requested_minor, self.currency)
        remaining = Money(self.remaining_minor, self.currency)
        return f"refund of {requested} exceeds the {remaining} still refundable on payment {self.payment_id}"


@attrs.define(str=False)
class PaymentNotRefundable(DomainError):
    payment_id: str
    status: str
    code = "payment_not_refundable"

    @property
    def message(self) -> str:
        return f"payment {self.payment_id} is {self.status}; only a paid payment can be refunded"
