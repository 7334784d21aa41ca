"""Ports: the Protocols the use cases need, spoken in domain terms."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

import attrs

from domain.audit import AuditEntry
from domain.identifiers import Phone
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.refund import Refund
from domain.seller_route import SellerRoute

# --- Providers ---------------------------------------------------------------------------------


@attrs.frozen
class PaymentRequest:
    """What a provider needs to open a payment on the seller's own merchant account."""

    payment_id: str
    route: SellerRoute
    method: PaymentMethod
    amount: Money
    description: str
    phone: Phone | None = None


@attrs.frozen
class ProviderPayment:
    """A provider's view of a payment, mapped to our states by the adapter."""

    external_id: str
    provider_status: str
    outcome: PaymentStatus
    payment_link: str | None = None
    expires_at: datetime | None = None


@attrs.frozen
class RefundRequest:
    refund_id: str
    route: SellerRoute
    external_id: str
    merchant_account: str
    amount: Money


@attrs.frozen
class ProviderRefund:
    external_id: str | None


class PaymentProvider(Protocol):
    """One payment provider. Raises only `ProviderDeclined` or `ProviderUnavailable`."""

    name: str
    # How long a customer has to pay when the provider does not say (Kaspi: 24 h for a remote bill).
    payment_lifetime: timedelta

    async def create_payment(self, request: PaymentRequest) -> ProviderPayment: ...

    async def fetch_payment(self, route: SellerRoute, external_id: str) -> ProviderPayment: ...

    async def refund(self, request: RefundRequest) -> ProviderRefund: ...


# --- Storage -------------------------------------------------------------------------------------


class PaymentRepository(Protocol):
    async def add(self, payment: Payment) -> None:
        """Insert; raises `DuplicateIdempotencyKey` when the key was used already."""

    async def get(self, payment_id: str, *, for_update: bool = False) -> Payment | None: ...

    async def get_by_external_id(self, provider: str, external_id: str) -> Payment | None: ...

    async def get_by_idempotency_key(self, key: str) -> Payment | None: ...

    async def update(self, payment: Payment, expected_version: int) -> bool:
        """Compare-and-set on `version`: False when someone else changed the row first."""


class RefundRepository(Protocol):
    async def add(self, refund: Refund) -> None: ...

    async def get(self, refund_id: str) -> Refund | None: ...

    async def get_by_idempotency_key(self, key: str) -> Refund | None: ...

    async def update(self, refund: Refund) -> None: ...

    async def list_for_payment(self, payment_id: str) -> Sequence[Refund]: ...


class AuditLog(Protocol):
    async def append(self, entry: AuditEntry) -> None: ...

    async def list(self, *, shop_id: int | None, limit: int) -> Sequence[AuditEntry]: ...


class RouteRepository(Protocol):
    async def get(self, shop_id: int, provider: str) -> SellerRoute | None: ...

    async def list(self, *, provider: str | None = None) -> Sequence[SellerRoute]: ...

    async def add(self, route: SellerRoute) -> None:
        """Insert; raises `RouteAlreadyExists` for a second route of the same shop and provider."""

    async def update(self, route: SellerRoute) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction. Never held open across a provider call."""

    payments: PaymentRepository
    refunds: RefundRepository
    routes: RouteRepository
    audit: AuditLog

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class RouteStore(Protocol):
    """Read access to routes outside a transaction (a cache may sit behind it)."""

    async def get(self, shop_id: int, provider: str) -> SellerRoute | None: ...


# --- Idempotency and API keys ------------------------------------------------------------------


class IdempotencyState(enum.Enum):
    STARTED = "started"  # this request owns the key now
    REPLAY = "replay"  # a finished response is stored: send it again
    IN_PROGRESS = "in_progress"  # another request with this key is running
    MISMATCH = "mismatch"  # the key was used with a different request


@attrs.frozen
class StoredResponse:
    status_code: int
    body: bytes


@attrs.frozen
class IdempotencyClaim:
    state: IdempotencyState
    response: StoredResponse | None = None


class IdempotencyStore(Protocol):
    async def claim(self, key: str, fingerprint: str, now: datetime) -> IdempotencyClaim: ...

    async def complete(self, key: str, response: StoredResponse, now: datetime) -> None: ...

    async def release(self, key: str) -> None:
        """Forget a claim whose outcome should not be replayed (the retry must run again)."""


@attrs.frozen
class ApiKey:
    id: str
    name: str
    key_hash: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        return self.revoked_at is None and scope in self.scopes


class ApiKeyStore(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def find_by_hash(self, key_hash: str) -> ApiKey | None: ...

    async def list(self) -> Sequence[ApiKey]: ...


# --- Time and identity ---------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC."""


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str:
        """A unique, roughly time-ordered id such as `pay_01JD...`."""
