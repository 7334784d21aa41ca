"""Create a payment: record it, then ask the provider, then record what the provider said.

The payment row (with its idempotency key) is committed before the provider is called, and no
transaction is open during the call. A timeout or 5xx leaves the payment pending: the proxy has no
idempotency, so the create is never retried blindly; status sync or an operator resolves it.
"""

from __future__ import annotations

import attrs

from domain.audit import Outcome
from domain.errors import DomainError, InvalidValue
from domain.identifiers import Phone
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.seller_route import SellerRoute

from application.audit import AuditRecorder, payment_entry
from application.errors import (
    ApplicationError,
    ConcurrentUpdate,
    DuplicateIdempotencyKey,
    OperationInProgress,
    PaymentDeclined,
    ProviderDeclined,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
    RouteMissingCredentials,
)
from application.ports import (
    Clock,
    IdGenerator,
    PaymentRequest,
    RouteStore,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.providers import ProviderDirectory
from application.routing import active_route

OPERATION = "create"
UNKNOWN_OUTCOME = ProviderOutcomeUnknown.code
MAX_DESCRIPTION = 255


@attrs.frozen
class CreatePaymentCommand:
    shop_id: int
    provider: str
    method: PaymentMethod
    amount: Money
    description: str = ""
    phone: str | None = None
    idempotency_key: str | None = None
    actor: str | None = None


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
    ) -> None:
        self._uow = uow
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
            async with self._uow() as uow:
                await uow.payments.add(payment)
                await uow.commit()
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
        async with self._uow() as uow:
            earlier = await uow.payments.get_by_idempotency_key(payment.idempotency_key)
        if earlier is not None and not _same_request(earlier, payment):
            raise DuplicateIdempotencyKey(payment.idempotency_key)
        return earlier

    async def _prepare(self, command: CreatePaymentCommand) -> tuple[Payment, Phone | None, SellerRoute]:
        route = await active_route(self._routes, command.shop_id, command.provider)
        self._providers.get(command.provider)
        if command.provider == "kaspi" and not route.credentials.get("device_token"):
            raise RouteMissingCredentials(command.shop_id, "Kaspi device token")
        if command.method is PaymentMethod.REMOTE and command.phone is None:
            raise InvalidValue("phone", "phone is required for a remote payment")
        phone = Phone.parse(command.phone) if command.method is PaymentMethod.REMOTE else None
        if not command.amount.is_positive():
            raise InvalidValue("amount", "amount must be positive")
        if len(command.description) > MAX_DESCRIPTION:
            raise InvalidValue("message", f"message is longer than {MAX_DESCRIPTION} characters")
        now = self._clock.now()
        payment = Payment(
            id=self._ids.new_id("pay"),
            shop_id=command.shop_id,
            provider=command.provider,
            method=command.method,
            amount=command.amount,
            merchant_account=route.merchant_account,
            description=command.description,
            phone=phone.value if phone else None,
            idempotency_key=command.idempotency_key,
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
            route=route,
            method=payment.method,
            amount=payment.amount,
            description=payment.description,
            phone=phone,
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
        async with self._uow() as uow:
            current = await uow.payments.get(payment.id, for_update=True)
            assert current is not None
            expected = current.version
            current.record_provider_acceptance(
                external_id=answer.external_id,
                provider_status=answer.provider_status,
                payment_link=answer.payment_link,
                expires_at=answer.expires_at or (current.created_at + provider.payment_lifetime),
                at=now,
            )
            if answer.outcome is not PaymentStatus.PENDING:
                current.settle(answer.outcome, provider_status=answer.provider_status, at=now)
            await _store(uow, current, expected)
            await uow.audit.append(payment_entry(OPERATION, current, Outcome.SUCCESS, at=now, actor=actor))
            await uow.commit()
        return current

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
                entry = payment_entry(OPERATION, current, Outcome.ERROR, at=now, error=str(declined), actor=actor)
            else:
                assert unknown is not None
                current.note_unknown_outcome(UNKNOWN_OUTCOME, unknown.reason, at=now)
                entry = payment_entry(
                    OPERATION, current, Outcome.PENDING, at=now, error=f"outcome unknown: {unknown.reason}", actor=actor
                )
            await _store(uow, current, expected)
            await uow.audit.append(entry)
            await uow.commit()


async def _store(uow: UnitOfWork, payment: Payment, expected_version: int) -> None:
    if not await uow.payments.update(payment, expected_version):
        # The row is locked for this transaction, so losing the compare-and-set means another
        # writer ignored the lock: refuse loudly rather than overwrite.
        raise ConcurrentUpdate(payment.id)


def _same_request(earlier: Payment, new: Payment) -> bool:
    return (earlier.shop_id, earlier.provider, earlier.method, earlier.amount, earlier.phone, earlier.description) == (
        new.shop_id, new.provider, new.method, new.amount, new.phone, new.description,
    )


def _replay(payment: Payment) -> Payment:
    """What a retry with the same idempotency key gets: the first attempt's payment, never a new one."""
    if payment.external_id is not None or payment.status is not PaymentStatus.PENDING:
        if payment.status is PaymentStatus.FAILED and payment.external_id is None:
            raise PaymentDeclined(payment.id, payment.error_code or "", payment.error_message or "")
        return payment
    if payment.error_code == UNKNOWN_OUTCOME:
        raise ProviderOutcomeUnknown(payment.id, payment.error_message or "unknown", timed_out=False)
    raise OperationInProgress(payment.id)
