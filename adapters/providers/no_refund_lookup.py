"""For providers that cannot be asked about a refund later (Kaspi's proxy, CloudPayments here, the sandbox)."""

from __future__ import annotations

from application.errors import ProviderDeclined
from application.ports import ProviderRefund, RefundLookup


class NoRefundLookup:
    """`fetch_refund` of a provider whose profile lacks REFUND_LOOKUP: never called by the application.

    Their refund answers are definite; one whose answer was lost is settled by an operator
    (`paygate refunds attach`) from what the merchant cabinet shows.
    """

    async def fetch_refund(self, lookup: RefundLookup) -> ProviderRefund | None:
        raise ProviderDeclined(
            "refund_lookup_not_supported",
            f"refund {lookup.refund_id} cannot be looked up at this provider: settle it with `paygate refunds attach`",
        )
