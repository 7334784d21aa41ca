"""Recording lifecycle events in the outbox, inside the transaction of the change they tell."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from domain.events import Event, EventType
from domain.payment import Payment
from domain.refund import Refund

from application.payment_views import payment_view, refund_view
from application.ports import IdGenerator, UnitOfWork


def new_event(
    ids: IdGenerator,
    event_type: EventType,
    payment: Payment,
    *,
    at: datetime,
    refund: Refund | None = None,
    source: str | None = None,
) -> Event:
    """The event telling subscribers of `payment` (and `refund`) as they are now (`PaymentView`, `RefundView`);
    `source`: who reported the change."""
    # Plain JSON values, as the outbox stores them: the declared views, rendered once here.
    data: dict[str, Any] = {"payment": msgspec.to_builtins(payment_view(payment))}
    if refund is not None:
        data["refund"] = msgspec.to_builtins(refund_view(refund))
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
