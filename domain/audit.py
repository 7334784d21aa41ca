"""Audit entries: the append-only record of every operation, successful or not."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    PENDING = "pending"  # the provider's answer is not known yet
    ERROR = "error"


@attrs.frozen
class AuditEntry:
    """One row of the audit log; the columns of the service we replace, plus who and which payment."""

    operation_type: str
    status: Outcome
    created_at: datetime
    shop_id: int | None = None
    organization_bin: str | None = None
    external_id: str | None = None
    payment_id: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    provider: str | None = None
    error_message: str | None = None
    actor: str | None = None
    # For a status change: where it came from (`api`, `poller`, `webhook:<provider>`, `operator:...`,
    # `client_report`) and when the provider's state was observed.
    source: str | None = None
    observed_at: datetime | None = None
    refund_id: str | None = None
    reason: str | None = None  # a refund's reason, as the operator gave it
    id: int | None = None
