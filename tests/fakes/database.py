"""An in-memory database and unit of work honouring the contract of the real repositories."""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar

import attrs

from domain.access import ApiKey
from domain.audit import AuditEntry
from domain.payment import Payment, PaymentStatus
from domain.polling import PaymentCheck, RefundCheck
from domain.refund import Refund, RefundStatus
from domain.seller_route import SellerRoute
from domain.webhooks import DeliveryAttempt, WebhookDelivery, WebhookSubscription

from application.errors import ConcurrentUpdate, DuplicateIdempotencyKey, ProviderOutcomeUnknown, RouteAlreadyExists
from application.ports import PaymentSearch

from tests.fakes.outbox import (
    InMemoryCheckRepository,
    InMemoryOutboxRepository,
    InMemoryWebhookRepository,
    StoredEvent,
)


class InMemoryDatabase:
    """The committed state every unit of work reads from and commits into.

    Entities are stored as private copies: nothing a caller does to an object it holds reaches the
    database unless a unit of work commits it. Tests may read these collections directly.
    """

    def __init__(self) -> None:
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[str, Refund] = {}
        self.routes: dict[tuple[int, str], SellerRoute] = {}
        self.audit: list[AuditEntry] = []
        self.provider_events: set[tuple[str, str]] = set()
        self.api_keys: dict[str, ApiKey] = {}
        self.checks: dict[str, PaymentCheck] = {}
        self.refund_checks: dict[str, RefundCheck] = {}
        self.events: list[StoredEvent] = []
        self.subscriptions: dict[str, WebhookSubscription] = {}
        self.deliveries: dict[str, WebhookDelivery] = {}
        self.attempts: list[DeliveryAttempt] = []
        self.commits = 0
        self.open_transactions = 0  # how many units of work are inside `async with` right now
        self.transactions = 0  # how many units of work were ever entered (each a connection and a BEGIN)

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """This database's `UnitOfWorkFactory`."""
        return InMemoryUnitOfWork(self)

    def payment(self, payment_id: str) -> Payment:
        """A copy of a committed payment, for assertions."""
        return copy.deepcopy(self.payments[payment_id])

    def refunds_of(self, payment_id: str) -> list[Refund]:
        return [copy.deepcopy(r) for r in self.refunds.values() if r.payment_id == payment_id]

    def audit_of(self, operation: str) -> list[AuditEntry]:
        return [entry for entry in self.audit if entry.operation_type == operation]


class IntegrityViolation(AssertionError):
    """What a database constraint of the real schema would refuse: a bug in the caller, never a refusal."""


def _check_row(entity: Payment | Refund) -> None:
    # The constraints of adapters/persistence/tables.py that a use case could trip over.
    stamps: list[datetime | None] = [entity.created_at, entity.updated_at]
    if isinstance(entity, Payment):
        assert entity.refunded is not None and entity.refund_reserved is not None
        if entity.refunded.minor + entity.refund_reserved.minor > entity.amount.minor:
            raise IntegrityViolation(f"payment {entity.id}: refunds beyond the paid amount")
        stamps.append(entity.expires_at)
    elif not entity.amount.is_positive():
        raise IntegrityViolation(f"refund {entity.id}: amount must be positive")
    if any(stamp is not None and stamp.tzinfo is None for stamp in stamps):
        raise IntegrityViolation(f"{entity.id}: naive datetime")


_Row = TypeVar("_Row", Payment, Refund)


def _first(items: Sequence[_Row]) -> _Row | None:
    return copy.deepcopy(items[0]) if items else None


class InMemoryPaymentRepository:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._staged: dict[str, Payment] = {}
        # The committed version each staged row was read at (None for an insert), checked at commit.
        self._base: dict[str, int | None] = {}

    def _current(self, payment_id: str) -> Payment | None:
        if payment_id in self._staged:
            return self._staged[payment_id]
        return self._db.payments.get(payment_id)

    def _visible(self) -> list[Payment]:
        return [*self._staged.values(), *(p for k, p in self._db.payments.items() if k not in self._staged)]

    async def add(self, payment: Payment) -> None:
        if self._current(payment.id) is not None:
            raise IntegrityViolation(f"payment {payment.id} added twice")
        _check_row(payment)
        key = payment.idempotency_key
        if key is not None and any(p.idempotency_key == key for p in self._visible()):
            raise DuplicateIdempotencyKey(key)
        self._check_external_id(payment)
        self._staged[payment.id] = copy.deepcopy(payment)
        self._base[payment.id] = None

    async def get(self, payment_id: str, *, for_update: bool = False) -> Payment | None:
        return copy.deepcopy(self._current(payment_id))

    async def get_by_external_id(self, provider: str, external_id: str) -> Payment | None:
        return _first([p for p in self._visible() if p.provider == provider and p.external_id == external_id])

    async def get_by_idempotency_key(self, key: str) -> Payment | None:
        return _first([p for p in self._visible() if p.idempotency_key == key])

    async def list_by_order(self, order_id: str, *, shop_ids: Collection[int] | None) -> Sequence[Payment]:
        found = [p for p in self._visible() if p.order_id == order_id and (shop_ids is None or p.shop_id in shop_ids)]
        return [copy.deepcopy(p) for p in sorted(found, key=lambda p: p.id, reverse=True)]

    async def list_by_customer(
        self, customer_id: str, *, shop_ids: Collection[int] | None, before_id: str | None, limit: int
    ) -> Sequence[Payment]:
        found = [
            p
            for p in self._visible()
            if p.customer_id == customer_id
            and (shop_ids is None or p.shop_id in shop_ids)
            and (before_id is None or p.id < before_id)
        ]
        return [copy.deepcopy(p) for p in sorted(found, key=lambda p: p.id, reverse=True)[:limit]]

    async def search(self, search: PaymentSearch, *, shop_ids: Collection[int] | None, limit: int) -> Sequence[Payment]:
        lost_refunds = {
            r.payment_id
            for r in self._db.refunds.values()  # committed refunds: this fake's repositories stage apart
            if r.status is RefundStatus.PENDING and r.error_code == ProviderOutcomeUnknown.code
        }

        def matches(p: Payment) -> bool:
            texts = (p.id, p.external_id, p.order_id, p.customer_id)
            pending = p.status is PaymentStatus.PENDING
            return (
                (search.text is None or search.text in texts)
                and (search.shop_id is None or p.shop_id == search.shop_id)
                and (search.provider is None or p.provider == search.provider)
                and (search.status is None or p.status.value == search.status)
                and (search.created_from is None or p.created_at >= search.created_from)
                and (search.created_before is None or p.created_at < search.created_before)
                and (search.before_id is None or p.id < search.before_id)
                and (not search.outcome_unknown or (pending and p.error_code == ProviderOutcomeUnknown.code))
                and (not search.refund_outcome_unknown or p.id in lost_refunds)
                and (
                    search.expired_before is None
                    or (pending and p.expires_at is not None and p.expires_at < search.expired_before)
                )
                and (shop_ids is None or p.shop_id in shop_ids)
            )

        found = sorted(filter(matches, self._visible()), key=lambda p: p.id, reverse=True)
        return [copy.deepcopy(p) for p in found[:limit]]

    async def update(self, payment: Payment, expected_version: int) -> bool:
        current = self._current(payment.id)
        if current is None or current.version != expected_version:
            return False
        _check_row(payment)
        self._check_external_id(payment)
        self._base.setdefault(payment.id, current.version)
        payment.version = expected_version + 1
        self._staged[payment.id] = copy.deepcopy(payment)
        return True

    def _check_external_id(self, payment: Payment, rows: list[Payment] | None = None) -> None:
        if payment.external_id is None:
            return
        for other in self._visible() if rows is None else rows:
            same = (other.provider, other.external_id) == (payment.provider, payment.external_id)
            if same and other.id != payment.id:
                raise IntegrityViolation(f"{payment.provider} payment {payment.external_id} stored twice")

    def check(self) -> None:
        for payment_id, payment in self._staged.items():
            self._check_external_id(payment, list(self._db.payments.values()))
            committed = self._db.payments.get(payment_id)
            if (committed.version if committed else None) != self._base[payment_id]:
                # PostgreSQL would have made this writer wait on the row lock and then fail its
                # compare-and-set; an interleaving the fake allowed is refused here instead.
                raise ConcurrentUpdate(payment_id)
            key = payment.idempotency_key
            taken = key is not None and any(p.idempotency_key == key for p in self._db.payments.values())
            if committed is None and key is not None and taken:
                raise DuplicateIdempotencyKey(key)

    def staged_ids(self) -> set[str]:
        return set(self._staged)

    def write(self) -> None:
        self._db.payments.update(self._staged)


class InMemoryRefundRepository:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._staged: dict[str, Refund] = {}
        self._added: set[str] = set()

    def _current(self, refund_id: str) -> Refund | None:
        if refund_id in self._staged:
            return self._staged[refund_id]
        return self._db.refunds.get(refund_id)

    def _visible(self) -> list[Refund]:
        return [*self._staged.values(), *(r for k, r in self._db.refunds.items() if k not in self._staged)]

    async def add(self, refund: Refund) -> None:
        if self._current(refund.id) is not None:
            raise IntegrityViolation(f"refund {refund.id} added twice")
        _check_row(refund)
        key = refund.idempotency_key
        if key is not None and any(r.idempotency_key == key for r in self._visible()):
            raise DuplicateIdempotencyKey(key)
        self._staged[refund.id] = copy.deepcopy(refund)
        self._added.add(refund.id)

    async def get(self, refund_id: str, *, for_update: bool = False) -> Refund | None:
        return copy.deepcopy(self._current(refund_id))

    async def get_by_provider_id(self, provider: str, external_id: str) -> Refund | None:
        return _first(
            [
                r for r in self._visible()
                if r.external_id == external_id and self._db.payments[r.payment_id].provider == provider
            ]
        )

    async def get_by_idempotency_key(self, key: str) -> Refund | None:
        return _first([r for r in self._visible() if r.idempotency_key == key])

    async def update(self, refund: Refund) -> None:
        if self._current(refund.id) is None:
            raise AssertionError(f"refund {refund.id} updated before it was added")
        _check_row(refund)
        self._staged[refund.id] = copy.deepcopy(refund)

    async def list_for_payment(self, payment_id: str) -> Sequence[Refund]:
        found = sorted((r for r in self._visible() if r.payment_id == payment_id), key=lambda r: (r.created_at, r.id))
        return [copy.deepcopy(r) for r in found]

    def check(self, payments_committed_with: set[str]) -> None:
        for refund_id in self._added:
            # The foreign key: a refund's payment is committed already, or in the same commit.
            payment_id = self._staged[refund_id].payment_id
            if payment_id not in self._db.payments and payment_id not in payments_committed_with:
                raise IntegrityViolation(f"refund {refund_id} of unknown payment {payment_id}")
            key = self._staged[refund_id].idempotency_key
            if key is not None and any(r.idempotency_key == key for r in self._db.refunds.values()):
                raise DuplicateIdempotencyKey(key)

    def write(self) -> None:
        self._db.refunds.update(self._staged)


class InMemoryRouteRepository:
    # Routes are frozen value objects, so they are kept as they are: nobody can mutate them.

    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._staged: dict[tuple[int, str], SellerRoute] = {}
        self._added: set[tuple[int, str]] = set()

    async def get(self, shop_id: int, provider: str) -> SellerRoute | None:
        key = (shop_id, provider)
        return self._staged[key] if key in self._staged else self._db.routes.get(key)

    async def list(self, *, provider: str | None = None, shop_id: int | None = None) -> Sequence[SellerRoute]:
        routes = {**self._db.routes, **self._staged}
        return [
            r
            for _, r in sorted(routes.items())
            if (provider is None or r.provider == provider) and (shop_id is None or r.shop_id == shop_id)
        ]

    async def add(self, route: SellerRoute) -> None:
        if await self.get(route.shop_id, route.provider) is not None:
            raise RouteAlreadyExists(route.shop_id, route.provider)
        key = (route.shop_id, route.provider)
        self._staged[key] = route
        self._added.add(key)

    async def update(self, route: SellerRoute) -> None:
        if await self.get(route.shop_id, route.provider) is None:
            raise AssertionError(f"route {route.shop_id}/{route.provider} updated before it was added")
        self._staged[(route.shop_id, route.provider)] = route

    def check(self) -> None:
        for shop_id, provider in self._added:
            if (shop_id, provider) in self._db.routes:
                raise RouteAlreadyExists(shop_id, provider)

    def write(self) -> None:
        self._db.routes.update(self._staged)


class InMemoryAuditLog:
    # Entries are frozen; the database numbers them on commit, as a sequence column would.

    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._staged: list[AuditEntry] = []

    async def append(self, entry: AuditEntry) -> None:
        self._staged.append(entry)

    async def list(self, *, shop_id: int | None, limit: int) -> Sequence[AuditEntry]:
        entries = [e for e in [*self._db.audit, *self._staged] if shop_id is None or e.shop_id == shop_id]
        return list(reversed(entries))[:limit]

    async def list_for_payment(self, payment_id: str) -> Sequence[AuditEntry]:
        return [e for e in [*self._db.audit, *self._staged] if e.payment_id == payment_id]

    def write(self) -> None:
        for entry in self._staged:
            self._db.audit.append(attrs.evolve(entry, id=len(self._db.audit) + 1))


class InMemoryProviderEventLog:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._staged: set[tuple[str, str]] = set()

    async def seen(self, provider: str, event_id: str) -> bool:
        return (provider, event_id) in self._db.provider_events or (provider, event_id) in self._staged

    async def first_time(self, provider: str, event_id: str, at: datetime) -> bool:
        key = (provider, event_id)
        if key in self._db.provider_events or key in self._staged:
            return False
        self._staged.add(key)
        return True

    def write(self) -> None:
        self._db.provider_events |= self._staged


class InMemoryApiKeyRepository:
    # Keys are frozen value objects, kept as they are.

    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._staged: dict[str, ApiKey] = {}

    def _visible(self) -> dict[str, ApiKey]:
        return {**self._db.api_keys, **self._staged}

    async def add(self, key: ApiKey) -> None:
        if key.id in self._visible() or any(k.key_hash == key.key_hash for k in self._visible().values()):
            raise IntegrityViolation(f"api key {key.id} added twice")
        self._staged[key.id] = key

    async def get(self, key_id: str) -> ApiKey | None:
        return self._visible().get(key_id)

    async def revoke(self, key_id: str, at: datetime) -> bool:
        key = self._visible().get(key_id)
        if key is None or key.revoked_at is not None:
            return False
        self._staged[key_id] = attrs.evolve(key, revoked_at=at)
        return True

    def write(self) -> None:
        self._db.api_keys.update(self._staged)


class InMemoryUnitOfWork:
    """One transaction: changes are staged, and reach the database only on `commit`."""

    payments: InMemoryPaymentRepository
    refunds: InMemoryRefundRepository
    routes: InMemoryRouteRepository
    audit: InMemoryAuditLog
    provider_events: InMemoryProviderEventLog
    api_keys: InMemoryApiKeyRepository
    checks: InMemoryCheckRepository[PaymentCheck]
    refund_checks: InMemoryCheckRepository[RefundCheck]
    outbox: InMemoryOutboxRepository
    webhooks: InMemoryWebhookRepository

    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._open = False
        self._discard()

    async def __aenter__(self) -> Self:
        if self._open:
            raise AssertionError("a unit of work is entered once at a time")
        self._open = True
        self._db.open_transactions += 1
        self._db.transactions += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leaving without commit (normally or by an exception) rolls back.
        self._open = False
        self._db.open_transactions -= 1
        self._discard()

    async def commit(self) -> None:
        if not self._open:
            raise AssertionError("commit outside `async with`")
        try:
            # Every constraint is checked before anything is written: a failed commit writes nothing.
            self.payments.check()
            self.refunds.check(payments_committed_with=self.payments.staged_ids())
            self.routes.check()
            payments = set(self._db.payments) | self.payments.staged_ids()
            self.checks.check(payments)
            self.refund_checks.check(set(self._db.refunds) | set(self.refunds._staged))
            self.outbox.check(payments)
            self.webhooks.check({row.event.id for row in [*self._db.events, *self.outbox.added()]})
            for store in (self.payments, self.refunds, self.routes, self.audit, self.provider_events, self.api_keys):
                store.write()
            for extra in (self.checks, self.refund_checks, self.outbox, self.webhooks):
                extra.write()
        finally:
            self._discard()
        self._db.commits += 1

    def _discard(self) -> None:
        self.payments = InMemoryPaymentRepository(self._db)
        self.refunds = InMemoryRefundRepository(self._db)
        self.routes = InMemoryRouteRepository(self._db)
        self.audit = InMemoryAuditLog(self._db)
        self.provider_events = InMemoryProviderEventLog(self._db)
        self.api_keys = InMemoryApiKeyRepository(self._db)
        self.checks = InMemoryCheckRepository[PaymentCheck](self._db)
        self.refund_checks = InMemoryCheckRepository[RefundCheck](self._db, store="refund_checks", key="refund_id")
        self.outbox = InMemoryOutboxRepository(self._db)
        self.webhooks = InMemoryWebhookRepository(self._db)
