"""A refund of part or all of a paid payment."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from domain.errors import IllegalTransition
from domain.money import Money


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # sent to the provider, outcome not known yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@attrs.define(eq=False)
class Refund:
    id: str
    payment_id: str
    shop_id: int
    amount: Money
    created_at: datetime
    updated_at: datetime
    status: RefundStatus = RefundStatus.PENDING
    external_id: str | None = None
    idempotency_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    def _leave_pending(self, status: RefundStatus, at: datetime) -> None:
        if self.status is not RefundStatus.PENDING:
            raise IllegalTransition(self.id, self.status.value, status.value)
        self.status = status
        self.updated_at = at

    def note_unknown_outcome(self, code: str, reason: str, at: datetime) -> None:
        """The provider's answer was lost: the refund stays pending, its reservation held."""
        self.error_code = code
        self.error_message = reason
        self.updated_at = at

    def succeed(self, external_id: str | None, at: datetime) -> None:
        self._leave_pending(RefundStatus.SUCCEEDED, at)
        self.external_id = external_id

    def fail(self, code: str, message: str, at: datetime) -> None:
        self._leave_pending(RefundStatus.FAILED, at)
        self.error_code = code
        self.error_message = message
