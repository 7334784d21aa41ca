"""Recording lifecycle events in the outbox, inside the transaction of the change they tell."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.errors import InvalidValue
from domain.events import Event, EventType
from domain.identifiers import Phone
from domain.money import Money
from domain.payment import Payment
from domain.refund import Refund, RefundStatus

from application.ports import IdGenerator, UnitOfWork


def _money(money: Money | None) -> int | None:
    return None if money is None else money.minor


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _masked(phone: str | None) -> str | None:
    if not phone:
        return None
    try:
        return Phone(phone).masked()
    except InvalidValue:
        # Not one of ours to recognise: still never shown whole, and never a reason to lose an event.
        return "*" * max(len(phone) - 2, 0) + phone[-2:]


def payment_view(payment: Payment) -> dict[str, Any]:
    """What a subscriber may see of a payment: amounts in minor units, the phone masked, no secret."""
    return {
        "id": payment.id,
        "shop_id": payment.shop_id,
        "provider": payment.provider,
        "method": payment.method.value,
        "status": payment.status.value,
        "provider_status": payment.provider_status,
        "external_id": payment.external_id,
        "amount": payment.amount.minor,
        "refunded": _money(payment.refunded),
        "currency": payment.amount.currency,
        "merchant_account": payment.merchant_account,
        "description": payment.description,
        "phone": _masked(payment.phone),
        "payment_link": payment.payment_link,
        "order_id": payment.order_id,
        "customer_id": payment.customer_id,
        "metadata": dict(payment.metadata),
        "error_code": payment.error_code,
        "wallet": payment.wallet,
        "status_source": payment.status_source,
        "status_observed_at": _time(payment.status_observed_at),
        "expires_at": _time(payment.expires_at),
        "created_at": _time(payment.created_at),
        "updated_at": _time(payment.updated_at),
    }


def refund_view(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "payment_id": refund.payment_id,
        "amount": refund.amount.minor,
        "currency": refund.amount.currency,
        "status": refund.status.value,
        "external_id": refund.external_id,
        "error_code": refund.error_code,
        "failure_reason": refund.error_message if refund.status is RefundStatus.FAILED else None,
        "status_source": refund.status_source,
        "status_observed_at": _time(refund.status_observed_at),
        "created_at": _time(refund.created_at),
        "updated_at": _time(refund.updated_at),
    }


def new_event(
    ids: IdGenerator,
    event_type: EventType,
    payment: Payment,
    *,
    at: datetime,
    refund: Refund | None = None,
    source: str | None = None,
) -> Event:
    """The event telling subscribers of `payment` (and `refund`) as they are now; `source`: who reported the change."""
    data: dict[str, Any] = {"payment": payment_view(payment)}
    if refund is not None:
        data["refund"] = refund_view(refund)
    if source is not None:
        data["source"] = source
    return Event(id=ids.new_id("evt"), type=event_type, payment_id=payment.id, occurred_at=at, data=data)


async def record_event(
    uow: UnitOfWork,
    ids: IdGenerator,
    event_type: EventType,
    payment: Payment,
    *,
    at: datetime,
    refund: Refund | None = None,
    source: str | None = None,
) -> None:
    """Append the event to the outbox of `uow`'s transaction: it is stored if, and only if, the change is."""
    await uow.outbox.add(new_event(ids, event_type, payment, at=at, refund=refund, source=source))
