"""A refund of part or all of a paid payment, followed until the provider's final word."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from domain.errors import IllegalTransition
from domain.money import Money


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # sent to the provider, which has not given its final word (or whose answer was lost)
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@attrs.define(eq=False)
class Refund:
    """`status_source` says who reported the current status (`api`, `poller`, `webhook:<provider>`,
    `operator:...`) and `status_observed_at` when the provider's state was seen."""

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
    status_source: str | None = None
    status_observed_at: datetime | None = None
    reason: str | None = None  # why the operator refunded (free text, shown in the console)

    @property
    def is_open(self) -> bool:
        return self.status is RefundStatus.PENDING

    def _leave_pending(self, status: RefundStatus, at: datetime, source: str | None) -> None:
        if self.status is not RefundStatus.PENDING:
            raise IllegalTransition(self.id, self.status.value, status.value)
        self.status = status
        self.updated_at = at
        self.status_source = source
        self.status_observed_at = at

    def note_unknown_outcome(self, code: str, reason: str, at: datetime) -> None:
        """The provider's answer was lost: the refund stays pending, its reservation held."""
        self.error_code = code
        self.error_message = reason
        self.updated_at = at

    def note_pending(self, external_id: str | None, at: datetime, source: str | None) -> None:
        """The provider has the refund but has not paid it out yet: its id is kept, the reservation held."""
        if external_id is not None:
            self.external_id = external_id
        # Known to the provider now: no longer an unknown outcome.
        self.error_code = None
        self.error_message = None
        self.updated_at = at
        self.status_source = source
        self.status_observed_at = at

    def succeed(self, external_id: str | None, at: datetime, source: str | None = None) -> None:
        self._leave_pending(RefundStatus.SUCCEEDED, at, source)
        if external_id is not None:
            self.external_id = external_id
        self.error_code = None
        self.error_message = None

    def fail(self, code: str, message: str, at: datetime, source: str | None = None) -> None:
        self._leave_pending(RefundStatus.FAILED, at, source)
        self.error_code = code
        self.error_message = message
