"""Refunds followed to the provider's final word: pending, then settled by the poller, a webhook or an operator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest

from domain.audit import Outcome
from domain.capabilities import Capability
from domain.events import Event, EventType
from domain.money import Money
from domain.payment import Payment, PaymentStatus
from domain.refund import RefundStatus

from application.errors import ProviderOutcomeUnknown, ProviderUnavailable, RefundNotAttachable
from application.ports import ProviderRefund, RefundNotice
from application.provider_notices import HandleProviderNotice, NoticeResult
from application.refund_payment import RefundCommand, RefundResult
from application.sync_refund_status import IN_FLIGHT_FOR, MISSING

from tests.support.core import InMemoryGateway
from tests.unit.conftest import SHOP

pytestmark = pytest.mark.anyio

PAID = Money(10_000_00, "KZT")
PART = Money(4_000_00, "KZT")


@pytest.fixture
def looking_up(gateway: InMemoryGateway) -> InMemoryGateway:
    """The gateway's provider as one that holds refunds pending and can be asked about them later."""
    profile = gateway.provider.profile
    gateway.provider.profile = attrs.evolve(profile, capabilities=profile.capabilities | {Capability.REFUND_LOOKUP})
    return gateway


def paid(gateway: InMemoryGateway) -> Payment:
    return gateway.seed_payment(SHOP, amount=PAID)


def refund_of(payment: Payment, **changes: Any) -> RefundCommand:
    fields: dict[str, Any] = {
        "shop_id": SHOP, "provider": "kaspi", "payment_id": payment.id, "amount": PART, "actor": "key_shop",
    }
    return RefundCommand(**{**fields, **changes})


def pending(external_id: str = "re_1") -> ProviderRefund:
    return ProviderRefund(external_id, status=RefundStatus.PENDING, provider_status="pending")


def events_of(gateway: InMemoryGateway, payment: Payment) -> list[Event]:
    return [row.event for row in gateway.db.events if row.event.payment_id == payment.id]


async def refunded_pending(gateway: InMemoryGateway) -> tuple[Payment, RefundResult]:
    payment = paid(gateway)
    gateway.provider.will_refund(pending())
    return payment, await gateway.refund.execute(refund_of(payment))


async def test_a_refund_answered_pending_keeps_its_id_and_its_reservation_and_is_followed(
    looking_up: InMemoryGateway,
) -> None:
    payment, result = await refunded_pending(looking_up)

    stored = looking_up.db.payment(payment.id)
    [refund] = looking_up.db.refunds_of(payment.id)
    assert (result.refund.status, refund.status, refund.external_id) == (RefundStatus.PENDING,) * 2 + ("re_1",)
    assert (refund.status_source, refund.error_code) == ("api", None)
    assert (stored.status, stored.refunded, stored.refund_reserved) == (PaymentStatus.SUCCEEDED, Money.zero("KZT"), PART)
    assert refund.id in looking_up.db.refund_checks
    [entry] = looking_up.db.audit_of("refund")
    assert (entry.status, entry.refund_id, entry.source) == (Outcome.PENDING, refund.id, "api")
    assert events_of(looking_up, payment) == []  # nothing final to tell yet


@pytest.mark.parametrize("outcome", [RefundStatus.SUCCEEDED, RefundStatus.FAILED])
async def test_the_poller_settles_a_pending_refund_as_the_provider_says(
    looking_up: InMemoryGateway, outcome: RefundStatus
) -> None:
    payment, result = await refunded_pending(looking_up)
    looking_up.provider.will_fetch_refund(
        ProviderRefund("re_1", status=outcome, provider_status=outcome.value,
                       failure_code="refund_failed" if outcome is RefundStatus.FAILED else None,
                       failure_reason="declined" if outcome is RefundStatus.FAILED else None)
    )
    looking_up.clock.advance(timedelta(minutes=2))

    summary = await looking_up.poll_refunds.sweep()

    stored = looking_up.db.payment(payment.id)
    [refund] = looking_up.db.refunds_of(payment.id)
    [lookup] = looking_up.provider.refund_lookups
    assert (lookup.external_id, lookup.refund_id) == ("re_1", result.refund.id)
    assert (summary.checked, summary.changed) == (1, 1)
    assert (refund.status, refund.status_source) == (outcome, "poller")
    refunded = PART if outcome is RefundStatus.SUCCEEDED else Money.zero("KZT")
    assert (stored.refunded, stored.refund_reserved) == (refunded, Money.zero("KZT"))
    assert stored.status is (
        PaymentStatus.PARTIALLY_REFUNDED if outcome is RefundStatus.SUCCEEDED else PaymentStatus.SUCCEEDED
    )
    assert refund.id not in looking_up.db.refund_checks
    [event] = events_of(looking_up, payment)
    kind = EventType.REFUND_SUCCEEDED if outcome is RefundStatus.SUCCEEDED else EventType.REFUND_FAILED
    assert (event.type, event.data["source"], event.data["refund"]["status"]) == (kind, "poller", outcome.value)
    final = looking_up.db.audit_of("refund")[-1]
    assert (final.status, final.source, final.actor) == (
        Outcome.SUCCESS if outcome is RefundStatus.SUCCEEDED else Outcome.ERROR, "poller", "poller"
    )


async def test_a_refund_still_pending_is_asked_again_later_and_nothing_is_recorded(looking_up: InMemoryGateway) -> None:
    payment, _ = await refunded_pending(looking_up)
    looking_up.provider.will_fetch_refund(pending())
    looking_up.clock.advance(timedelta(minutes=2))
    audited = len(looking_up.db.audit)

    await looking_up.poll_refunds.sweep()

    [refund] = looking_up.db.refunds_of(payment.id)
    check = looking_up.db.refund_checks[refund.id]
    assert refund.status is RefundStatus.PENDING
    assert check.attempts == 1 and check.next_check_at > looking_up.clock.now() and check.leased_until is None
    assert len(looking_up.db.audit) == audited


async def test_an_unknown_outcome_is_not_looked_up_while_the_call_may_still_run_then_resolved(
    looking_up: InMemoryGateway,
) -> None:
    payment = paid(looking_up)
    looking_up.provider.will_refund(ProviderUnavailable("timeout", timed_out=True))
    with pytest.raises(ProviderOutcomeUnknown):
        await looking_up.refund.execute(refund_of(payment))
    looking_up.clock.advance(timedelta(minutes=1))
    await looking_up.poll_refunds.sweep()
    assert looking_up.provider.refund_lookups == []  # could still be in flight

    looking_up.provider.will_fetch_refund(ProviderRefund("re_found", status=RefundStatus.SUCCEEDED))
    looking_up.clock.advance(IN_FLIGHT_FOR)
    await looking_up.poll_refunds.sweep()

    [lookup] = looking_up.provider.refund_lookups
    [refund] = looking_up.db.refunds_of(payment.id)
    assert lookup.external_id is None and lookup.idempotency_key == refund.id
    assert (refund.status, refund.external_id, refund.error_code) == (RefundStatus.SUCCEEDED, "re_found", None)
    assert looking_up.db.payment(payment.id).refunded == PART


async def test_a_refund_the_provider_verifiably_lacks_fails_and_gives_its_reservation_back(
    looking_up: InMemoryGateway,
) -> None:
    payment = paid(looking_up)
    looking_up.provider.will_refund(ProviderUnavailable("HTTP 500"))
    with pytest.raises(ProviderOutcomeUnknown):
        await looking_up.refund.execute(refund_of(payment))
    looking_up.provider.will_fetch_refund(None)
    looking_up.clock.advance(timedelta(hours=1))

    await looking_up.poll_refunds.sweep()

    stored = looking_up.db.payment(payment.id)
    [refund] = looking_up.db.refunds_of(payment.id)
    assert (refund.status, refund.error_code) == (RefundStatus.FAILED, MISSING)
    assert (stored.refunded, stored.refund_reserved, stored.refundable) == (Money.zero("KZT"), Money.zero("KZT"), PAID)
    assert [e.type for e in events_of(looking_up, payment)] == [EventType.REFUND_FAILED]


async def test_a_pending_refund_replayed_with_its_key_answers_pending_again(looking_up: InMemoryGateway) -> None:
    payment = paid(looking_up)
    looking_up.provider.will_refund(pending())
    first = await looking_up.refund.execute(refund_of(payment, idempotency_key="k-1"))

    again = await looking_up.refund.execute(refund_of(payment, idempotency_key="k-1"))

    assert again.refund.id == first.refund.id and again.refund.status is RefundStatus.PENDING
    assert len(looking_up.provider.refund_requests) == 1


def notices(gateway: InMemoryGateway) -> HandleProviderNotice:
    return gateway.container.handle_provider_notice()


async def test_a_webhook_settles_a_pending_refund_once_however_often_it_comes(looking_up: InMemoryGateway) -> None:
    payment, _ = await refunded_pending(looking_up)
    final = ProviderRefund("re_1", status=RefundStatus.SUCCEEDED, provider_status="succeeded")

    first = await notices(looking_up).execute(RefundNotice("kaspi", "re_1", event_id="evt_1", observed=final))
    again = await notices(looking_up).execute(RefundNotice("kaspi", "re_1", event_id="evt_1", observed=final))
    other_event = await notices(looking_up).execute(RefundNotice("kaspi", "re_1", event_id="evt_2", observed=final))
    stranger = await notices(looking_up).execute(RefundNotice("kaspi", "re_unknown", observed=final))

    assert (first, again, other_event, stranger) == (
        NoticeResult.APPLIED, NoticeResult.DUPLICATE, NoticeResult.APPLIED, NoticeResult.UNKNOWN_REFUND
    )
    [refund] = looking_up.db.refunds_of(payment.id)
    assert (refund.status, refund.status_source) == (RefundStatus.SUCCEEDED, "webhook:kaspi")
    assert [e.type for e in events_of(looking_up, payment)] == [EventType.REFUND_SUCCEEDED]
    assert looking_up.db.payment(payment.id).refunded == PART


async def test_an_unsigned_refund_hint_is_checked_with_the_provider_first(looking_up: InMemoryGateway) -> None:
    payment, _ = await refunded_pending(looking_up)
    looking_up.provider.will_fetch_refund(pending())

    result = await notices(looking_up).execute(RefundNotice("kaspi", "re_1"))

    assert result is NoticeResult.APPLIED
    assert len(looking_up.provider.refund_lookups) == 1
    assert looking_up.db.refunds_of(payment.id)[0].status is RefundStatus.PENDING


async def test_without_a_lookup_an_operator_settles_a_lost_refund_answer(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(ProviderUnavailable("timeout", timed_out=True))
    with pytest.raises(ProviderOutcomeUnknown):
        await gateway.refund.execute(refund_of(payment))
    [refund] = gateway.db.refunds_of(payment.id)
    assert gateway.db.refund_checks == {}  # nobody can ask Kaspi: no check
    attach = gateway.container.attach_refund_outcome()

    change = await attach.execute(refund.id, succeeded=True, actor="cli")
    with pytest.raises(RefundNotAttachable):
        await attach.execute(refund.id, succeeded=False, actor="cli")

    assert (change.refund.status, change.refund.status_source) == (RefundStatus.SUCCEEDED, "operator:cli")
    assert gateway.db.payment(payment.id).refunded == PART
    final = gateway.db.audit_of("refund")[-1]
    assert (final.status, final.actor, final.source, final.refund_id) == (Outcome.SUCCESS, "cli", "operator:cli", refund.id)
    [event] = events_of(gateway, payment)
    assert (event.type, event.data["source"]) == (EventType.REFUND_SUCCEEDED, "operator:cli")


async def test_an_operator_failing_a_lost_refund_gives_the_reservation_back(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(ProviderUnavailable("HTTP 502"))
    with pytest.raises(ProviderOutcomeUnknown):
        await gateway.refund.execute(refund_of(payment))
    [refund] = gateway.db.refunds_of(payment.id)

    await gateway.container.attach_refund_outcome().execute(
        refund.id, succeeded=False, actor="cli"
    )

    stored = gateway.db.payment(payment.id)
    assert (stored.refunded, stored.refund_reserved) == (Money.zero("KZT"), Money.zero("KZT"))
    assert gateway.db.refunds_of(payment.id)[0].status is RefundStatus.FAILED


async def test_an_operator_may_not_overrule_a_provider_that_can_be_asked(looking_up: InMemoryGateway) -> None:
    payment, result = await refunded_pending(looking_up)

    with pytest.raises(RefundNotAttachable):
        await looking_up.container.attach_refund_outcome().execute(
            result.refund.id, succeeded=True, actor="cli"
        )
    assert looking_up.db.refunds_of(payment.id)[0].status is RefundStatus.PENDING


async def test_a_succeeded_refund_reported_failed_later_is_flagged_not_undone(looking_up: InMemoryGateway) -> None:
    payment, _ = await refunded_pending(looking_up)
    succeeded = ProviderRefund("re_1", status=RefundStatus.SUCCEEDED)
    failed_later = ProviderRefund("re_1", status=RefundStatus.FAILED, failure_reason="Stripe failed the refund: declined")
    await notices(looking_up).execute(RefundNotice("kaspi", "re_1", event_id="evt_1", observed=succeeded))

    await notices(looking_up).execute(RefundNotice("kaspi", "re_1", event_id="evt_2", observed=failed_later))

    assert looking_up.db.refunds_of(payment.id)[0].status is RefundStatus.SUCCEEDED
    assert looking_up.db.payment(payment.id).refunded == PART
    [flag] = looking_up.db.audit_of("refund_reversed")
    assert (flag.status, flag.source) == (Outcome.ERROR, "webhook:kaspi")
    assert "needs attention" in (flag.error_message or "")
    assert [e.type for e in events_of(looking_up, payment)] == [EventType.REFUND_SUCCEEDED]
