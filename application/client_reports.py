"""What a marketplace client reports: its own log entries, and payment statuses it saw.

A reported status is a claim, never a fact: it is checked with the provider through the one
status-change path before anything changes, exactly as an unverifiable webhook is.
"""

from __future__ import annotations

from collections.abc import Collection

import attrs

from domain.audit import AuditEntry, Outcome
from domain.errors import DomainError, IllegalTransition
from domain.identifiers import Bin
from domain.money import Money
from domain.payment import Payment, PaymentStatus, can_transition

from application.audit import AuditRecorder, payment_entry
from application.errors import ApplicationError, PaymentNotFound, ShopNotFound, StatusNotConfirmed
from application.ports import Clock, RouteStore, UnitOfWorkFactory
from application.provenance import CLIENT_REPORT
from application.sync_status import SyncPaymentStatus

REPORT = "status_report"
# What a client's word about a payment can mean; each stored state a report agrees with.
_AGREES_WITH: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.PENDING}),
    PaymentStatus.SUCCEEDED: frozenset(
        # A refunded payment was paid: the provider keeps calling it paid.
        {PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
    ),
    PaymentStatus.FAILED: frozenset({PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED}),
}
REPORTABLE = frozenset(_AGREES_WITH)


@attrs.frozen
class ClientLogEntry:
    """An operation the client performed itself, for the audit log."""

    shop_id: int
    provider: str
    organization_bin: str
    operation_type: str
    outcome: Outcome
    external_id: str | None = None
    amount: Money | None = None
    error_message: str | None = None
    actor: str | None = None


class RecordClientLog:
    def __init__(self, *, routes: RouteStore, audit: AuditRecorder, clock: Clock) -> None:
        self._routes = routes
        self._audit = audit
        self._clock = clock

    async def execute(self, log: ClientLogEntry) -> AuditEntry:
        if await self._routes.get(log.shop_id, log.provider) is None:
            raise ShopNotFound(log.shop_id, log.provider)
        entry = AuditEntry(
            operation_type=log.operation_type,
            status=log.outcome,
            created_at=self._clock.now(),
            shop_id=log.shop_id,
            organization_bin=Bin(log.organization_bin).value,
            external_id=log.external_id,
            amount_minor=log.amount.minor if log.amount else None,
            currency=log.amount.currency if log.amount else None,
            provider=log.provider,
            error_message=log.error_message,
            actor=log.actor,
        )
        await self._audit.record(entry)
        return entry


@attrs.frozen
class StatusReport:
    """The client says payment `external_id` of `shop_id` is `status` (in its provider's words: `provider_status`)."""

    shop_id: int
    provider: str
    external_id: str
    status: PaymentStatus
    provider_status: str
    error_message: str | None = None
    actor: str | None = None
    shops: Collection[int] | None = None  # the reporting key's reach; None is every shop

    def __attrs_post_init__(self) -> None:
        if self.status not in REPORTABLE:
            raise ValueError(f"a client can report {sorted(REPORTABLE)}, not {self.status}")


class ReportPaymentStatus:
    def __init__(
        self, *, uow: UnitOfWorkFactory, routes: RouteStore, sync: SyncPaymentStatus, audit: AuditRecorder, clock: Clock
    ) -> None:
        self._uow = uow
        self._routes = routes
        self._sync = sync
        self._audit = audit
        self._clock = clock

    async def execute(self, report: StatusReport) -> Payment:
        """The payment as it stands once the report was checked; raises when it cannot agree."""
        payment: Payment | None = None
        try:
            payment = await self._reported_payment(report)
            if payment.status not in _AGREES_WITH[report.status]:
                if not can_transition(payment.status, report.status):
                    raise IllegalTransition(payment.id, payment.status.value, report.status.value)
                # Never the client's word alone: the provider is asked, and its answer applied.
                payment = await self._sync.refresh(payment, actor=report.actor, source=CLIENT_REPORT)
                if payment.status not in _AGREES_WITH[report.status]:
                    raise StatusNotConfirmed(report.external_id, report.provider_status, payment.provider_status)
        except (ApplicationError, DomainError) as refusal:
            await self._audit.refusal(
                REPORT, refusal, shop_id=report.shop_id, provider=report.provider,
                external_id=report.external_id, payment_id=payment.id if payment else None,
                organization_bin=payment.merchant_account if payment else None, actor=report.actor,
            )
            raise
        await self._audit.record(
            payment_entry(
                REPORT, payment, Outcome.SUCCESS, at=self._clock.now(), error=report.error_message, actor=report.actor
            )
        )
        return payment

    async def _reported_payment(self, report: StatusReport) -> Payment:
        if await self._routes.get(report.shop_id, report.provider) is None:
            raise ShopNotFound(report.shop_id, report.provider)
        async with self._uow() as uow:
            payment = await uow.payments.get_by_external_id(report.provider, report.external_id)
        reachable = report.shops is None or report.shop_id in report.shops
        if payment is None or payment.shop_id != report.shop_id or not reachable:
            raise PaymentNotFound(report.external_id)
        return payment
