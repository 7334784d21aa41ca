"""Create a payment: record it, then ask the provider, then record what the provider said.

The payment row (with its idempotency key) is committed before the provider is called, and no
transaction is open during the call. A timeout or 5xx leaves the payment pending: the proxy has no
idempotency, so the create is never retried blindly; status sync or an operator resolves it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.audit import AuditEntry, Outcome
from domain.errors import DomainError
from domain.events import Event, EventType, settlement_event
from domain.identifiers import Phone
from domain.payment import OPEN, Payment, PaymentMethod, PaymentStatus
from domain.polling import PaymentCheck
from domain.seller_route import SellerRoute

from application.audit import AuditRecorder, payment_entry
from application.creation_journal import TransactionalCreationJournal, write_records
from application.errors import (
    ApplicationError,
    ConcurrentUpdate,
    DuplicateIdempotencyKey,
    OperationInProgress,
    PaymentDeclined,
    ProviderDeclined,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from application.events import new_event, record_event
from application.payment_lookup import TransactionalPaymentLookup
from application.payment_requests import CreatePaymentCommand as CreatePaymentCommand  # re-exported for the edge
from application.payment_requests import check_request
from application.ports import (
    Clock,
    CreationJournal,
    IdGenerator,
    PaymentLookup,
    PaymentRequest,
    ProviderPayment,
    RouteStore,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.provenance import API
from application.providers import ProviderDirectory
from application.routing import route_for

OPERATION = "create"
UNKNOWN_OUTCOME = ProviderOutcomeUnknown.code


class CreatePayment:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        routes: RouteStore,
        providers: ProviderDirectory,
        audit: AuditRecorder,
        clock: Clock,
        ids: IdGenerator,
        journal: CreationJournal | None = None,
        lookup: PaymentLookup | None = None,
    ) -> None:
        self._uow = uow
        self._lookup = lookup or TransactionalPaymentLookup(uow)
        # Where the two writes of a create go: one statement each on PostgreSQL, else a transaction.
        self._journal = journal or TransactionalCreationJournal(uow)
        self._routes = routes
        self._providers = providers
        self._audit = audit
        self._clock = clock
        self._ids = ids

    async def execute(self, command: CreatePaymentCommand) -> Payment:
        try:
            payment, phone, route = await self._prepare(command)
            earlier = await self._earlier(payment)
        except (ApplicationError, DomainError) as refusal:
            await self._refuse(command, refusal)
            raise
        if earlier is not None:
            return _replay(earlier)
        try:
            await self._journal.open(payment)
        except DuplicateIdempotencyKey:
            # A concurrent request with the same key won the insert.
            try:
                earlier = await self._earlier(payment)
            except DuplicateIdempotencyKey as refusal:
                await self._refuse(command, refusal)
                raise
            if earlier is None:  # pragma: no cover - the key's row cannot vanish
                raise
            return _replay(earlier)
        # The route read before the payment was stored is the one used: reading it again could find
        # it deactivated and leave the stored payment pending, unsent and unaudited.
        return await self._call_provider(payment, phone, route, command.actor)

    async def _refuse(self, command: CreatePaymentCommand, refusal: Exception) -> None:
        await self._audit.refusal(
            OPERATION, refusal, shop_id=command.shop_id, provider=command.provider,
            amount=command.amount, actor=command.actor,
        )

    async def _earlier(self, payment: Payment) -> Payment | None:
        """The payment stored earlier under this request's idempotency key, if any.

        Keys are unique across all shops, so a key is honoured only for the same request of the same
        shop: anything else must neither see the other payment nor be answered with it.
        """
        if payment.idempotency_key is None:
            return None
        earlier = await self._lookup.by_idempotency_key(payment.idempotency_key)
        if earlier is not None and not _same_request(earlier, payment):
            raise DuplicateIdempotencyKey(payment.idempotency_key)
        return earlier

    async def _prepare(self, command: CreatePaymentCommand) -> tuple[Payment, Phone | None, SellerRoute]:
        route = await route_for(self._routes, command.shop_id, command.provider)
        profile = self._providers.get(route.provider).profile
        method = command.method or profile.default_method
        check_request(profile, route, method, command)
        phone = Phone.parse(command.phone) if method is PaymentMethod.REMOTE and command.phone is not None else None
        now = self._clock.now()
        payment = Payment(
            id=self._ids.new_id("pay"),
            shop_id=command.shop_id,
            provider=route.provider,
            method=method,
            amount=command.amount,
            merchant_account=route.merchant_account,
            description=command.description,
            phone=phone.value if phone else None,
            idempotency_key=command.idempotency_key,
            order_id=command.order_id,
            customer_id=command.customer_id,
            return_url=command.return_url,
            metadata=dict(command.metadata),
            manual_capture=command.manual_capture,
            created_at=now,
            updated_at=now,
        )
        return payment, phone, route

    async def _call_provider(
        self, payment: Payment, phone: Phone | None, route: SellerRoute, actor: str | None
    ) -> Payment:
        provider = self._providers.get(payment.provider)
        request = PaymentRequest(
            payment_id=payment.id,
            idempotency_key=payment.id,
            route=route,
            method=payment.method,
            amount=payment.amount,
            description=payment.description,
            phone=phone,
            order_id=payment.order_id,
            customer_id=payment.customer_id,
            return_url=payment.return_url,
            metadata=payment.metadata,
            manual_capture=payment.manual_capture,
        )
        try:
            answer = await provider.create_payment(request)
        except ProviderDeclined as declined:
            await self._record(payment, actor, declined=declined)
            raise PaymentDeclined(payment.id, declined.code, declined.message) from None
        except ProviderUnavailable as unknown:
            await self._record(payment, actor, unknown=unknown)
            raise ProviderOutcomeUnknown(payment.id, unknown.reason, unknown.timed_out) from None
        now = self._clock.now()
        lifetime = provider.profile.payment_lifetime
        # Nobody else knows the payment yet, in all but rare cases: the answer is applied to the
        # payment as just stored (no copy: nothing reads it again) and written as a compare-and-set
        # on its version, sparing a read. Only if that loses (a recovery attached the provider's id
        # meanwhile) is the payment read back under the row lock, as every other change does.
        current, stored_version = payment, payment.version
        _accept(current, answer, lifetime, now)
        entry, events, check = self._records(current, actor, now)
        if not await self._journal.record_answer(current, stored_version, entry=entry, events=events, check=check):
            async with self._uow() as uow:
                locked = await uow.payments.get(payment.id, for_update=True)
                assert locked is not None
                current, expected = locked, locked.version
                _accept(current, answer, lifetime, now)
                entry, events, check = self._records(current, actor, now)
                await _store(uow, current, expected)
                await write_records(uow, entry, events, check)
                await uow.commit()
        if answer.outcome is PaymentStatus.FAILED:
            raise PaymentDeclined(current.id, answer.provider_status, f"provider status {answer.provider_status}")
        return current

    def _records(
        self, payment: Payment, actor: str | None, now: datetime
    ) -> tuple[AuditEntry, list[Event], PaymentCheck | None]:
        """What is written with the provider's answer: the audit entry, the events, the poll check."""
        outcome = Outcome.ERROR if payment.status is PaymentStatus.FAILED else Outcome.SUCCESS
        entry = payment_entry(OPERATION, payment, outcome, at=now, actor=actor, source=API, observed_at=now)
        events = [new_event(self._ids, EventType.PAYMENT_CREATED, payment, at=now, source=API)]
        if payment.status is not PaymentStatus.PENDING:
            events.append(new_event(self._ids, settlement_event(payment.status), payment, at=now, source=API))
        # Some providers never call back: the poller asks until the payment settles or expires.
        check = PaymentCheck(payment_id=payment.id, next_check_at=now) if payment.status in OPEN else None
        return entry, events, check

    async def _record(
        self,
        payment: Payment,
        actor: str | None,
        *,
        declined: ProviderDeclined | None = None,
        unknown: ProviderUnavailable | None = None,
    ) -> None:
        now = self._clock.now()
        async with self._uow() as uow:
            current = await uow.payments.get(payment.id, for_update=True)
            assert current is not None
            expected = current.version
            if declined is not None:
                current.settle(
                    PaymentStatus.FAILED, provider_status=None, at=now,
                    error_code=declined.code, error_message=declined.message,
                )
                current.note_source(API, now)
                entry = payment_entry(
                    OPERATION,
                    current,
                    Outcome.ERROR,
                    at=now,
                    error=str(declined),
                    actor=actor,
                    source=API,
                    observed_at=now,
                )
                await record_event(uow, self._ids, EventType.PAYMENT_FAILED, current, at=now, source=API)
            else:
                assert unknown is not None
                current.note_unknown_outcome(UNKNOWN_OUTCOME, unknown.reason, at=now)
                entry = payment_entry(
                    OPERATION, current, Outcome.PENDING, at=now, error=f"outcome unknown: {unknown.reason}", actor=actor
                )
            await _store(uow, current, expected)
            await uow.audit.append(entry)
            await uow.commit()


def _accept(payment: Payment, answer: ProviderPayment, lifetime: timedelta, now: datetime) -> None:
    """The provider's answer to a create, applied to the payment in memory."""
    payment.record_provider_acceptance(
        external_id=answer.external_id,
        provider_status=answer.provider_status,
        payment_link=answer.payment_link,
        checkout_url=answer.checkout_url,
        client_secret=answer.client_secret,
        expires_at=answer.expires_at or (payment.created_at + lifetime),
        at=now,
    )
    payment.note_source(API, now)  # the provider's answer to the client's create
    if answer.outcome is not PaymentStatus.PENDING:
        declined = answer.outcome is PaymentStatus.FAILED
        payment.settle(
            answer.outcome,
            provider_status=answer.provider_status,
            at=now,
            error_code=answer.provider_status if declined else None,
            error_message=f"provider status {answer.provider_status}" if declined else None,
        )


async def _store(uow: UnitOfWork, payment: Payment, expected_version: int) -> None:
    if not await uow.payments.update(payment, expected_version):
        # The row is locked for this transaction, so losing the compare-and-set means another
        # writer ignored the lock: refuse loudly rather than overwrite.
        raise ConcurrentUpdate(payment.id)


def _same_request(earlier: Payment, new: Payment) -> bool:
    def request(p: Payment) -> tuple[object, ...]:
        return (
            p.shop_id,
            p.provider,
            p.method,
            p.amount,
            p.phone,
            p.description,
            p.order_id,
            p.customer_id,
            p.return_url,
            p.metadata,
            p.manual_capture,
        )

    return request(earlier) == request(new)


def _replay(payment: Payment) -> Payment:
    """What a retry with the same idempotency key gets: the first attempt's payment, never a new one."""
    if payment.external_id is not None or payment.status is not PaymentStatus.PENDING:
        if payment.status is PaymentStatus.FAILED and payment.external_id is None:
            raise PaymentDeclined(payment.id, payment.error_code or "", payment.error_message or "")
        return payment
    if payment.error_code == UNKNOWN_OUTCOME:
        raise ProviderOutcomeUnknown(payment.id, payment.error_message or "unknown", timed_out=False)
    raise OperationInProgress(payment.id)
