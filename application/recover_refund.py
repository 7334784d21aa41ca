"""An operator settles a refund the provider cannot be asked about (Kaspi, CloudPayments here).

Their refund answers are definite, but one can be lost (a timeout, the gateway stopping mid-call):
the refund stays pending with its amount reserved until an operator, having looked in the merchant
cabinet, records what happened. It goes through the one refund-status path, audited as the operator.
Where the provider can be asked (Stripe, YooKassa) the poller finds out instead: an operator's word
there could contradict the provider's.
"""

from __future__ import annotations

from domain.refund import Refund, RefundStatus

from application.errors import RefundNotAttachable, RefundNotFound
from application.ports import ProviderRefund, UnitOfWorkFactory
from application.provenance import source_of
from application.sync_refund_status import RefundChange, SyncRefundStatus

OPERATOR_FAILED = "failed_per_operator"


class AttachRefundOutcome:
    def __init__(self, *, uow: UnitOfWorkFactory, refunds: SyncRefundStatus) -> None:
        self._uow = uow
        self._refunds = refunds

    async def preview(self, refund_id: str) -> Refund:
        """The refund an attach would settle; raises when it may not be."""
        async with self._uow() as uow:
            refund = await uow.refunds.get(refund_id)
            payment = await uow.payments.get(refund.payment_id) if refund is not None else None
        if refund is None or payment is None:
            raise RefundNotFound(refund_id)
        if not refund.is_open:
            raise RefundNotAttachable(refund_id, f"it is {refund.status.value} already")
        if self._refunds.can_look_up(payment.provider):
            raise RefundNotAttachable(
                refund_id, f"{payment.provider} can be asked about it: the poller settles it from the provider's answer"
            )
        return refund

    async def execute(self, refund_id: str, *, succeeded: bool, actor: str) -> RefundChange:
        refund = await self.preview(refund_id)
        observed = ProviderRefund(
            external_id=None,
            status=RefundStatus.SUCCEEDED if succeeded else RefundStatus.FAILED,
            failure_code=None if succeeded else OPERATOR_FAILED,
            failure_reason=None if succeeded else "an operator found no such refund at the provider",
        )
        change = await self._refunds.apply(refund.id, observed, actor=actor, source=source_of(actor))
        if not change.changed:
            raise RefundNotAttachable(refund_id, f"it became {change.refund.status.value} meanwhile")
        return change
