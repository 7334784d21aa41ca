"""Ports: the Protocols the use cases need, spoken in domain terms."""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from types import TracebackType
from typing import Protocol, Self

import attrs

from domain.access import ApiKey
from domain.audit import AuditEntry
from domain.capabilities import Capability
from domain.events import Event
from domain.identifiers import Phone
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.polling import PaymentCheck, RefundCheck
from domain.refund import Refund, RefundStatus
from domain.seller_route import SellerRoute
from domain.webhooks import DeliveryAttempt, WebhookDelivery, WebhookSubscription

# --- Providers ---------------------------------------------------------------------------------


@attrs.frozen
class ProviderProfile:
    """What the application needs to know about a provider before calling it."""

    name: str
    capabilities: frozenset[Capability]
    currencies: frozenset[str]
    # The method used when a request names none.
    default_method: PaymentMethod
    # Credentials a route of this provider must carry (a YooKassa secret_key...).
    credential_names: tuple[str, ...]
    # How long a customer has to pay when the provider does not say (Kaspi: 24 h for a remote bill).
    payment_lifetime: timedelta
    # True when an unpaid payment stays payable at the provider until it is cancelled there (a
    # Stripe PaymentIntent): it must be cancelled at the provider before it may expire here.
    cancel_before_expiry: bool = False
    # Credentials a route may carry but need not (Kaspi's device_token: without one the proxy
    # uses its own device).
    optional_credentials: tuple[str, ...] = ()

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities


@attrs.frozen
class PaymentRequest:
    """What a provider needs to open a payment on the seller's own merchant account.

    `idempotency_key` is stable for this payment (its id): providers that support idempotency get
    it on every POST, so a retried call can never open a second payment.
    """

    payment_id: str
    idempotency_key: str
    route: SellerRoute
    method: PaymentMethod
    amount: Money
    description: str
    phone: Phone | None = None
    order_id: str | None = None
    customer_id: str | None = None
    return_url: str | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    manual_capture: bool = False


@attrs.frozen
class DeclinedAttempt:
    """One customer attempt the provider declined where the customer may try again on the same payment.

    `attempt_id` names the attempt where the provider does (CloudPayments' transaction, Stripe's failed
    Charge); without one, the same decline told again is taken for the same attempt.
    """

    attempt_id: str | None
    code: str
    reason: str

    @property
    def message(self) -> str:
        """How the payment's `error` tells it; one attempt's decline is noted (and told) once."""
        if self.attempt_id is None:
            return f"declined: {self.reason}"
        return f"attempt {self.attempt_id} declined: {self.reason}"


@attrs.frozen
class ProviderPayment:
    """A provider's view of a payment, mapped to our states by the adapter."""

    external_id: str
    provider_status: str
    outcome: PaymentStatus
    payment_link: str | None = None
    expires_at: datetime | None = None
    checkout_url: str | None = None
    client_secret: str | None = None
    # Why the provider cancelled or declined it, in its own words (YooKassa's cancellation_details);
    # kept as the payment's error_message.
    failure_reason: str | None = None
    # With outcome PENDING: the latest attempt was declined and the customer may retry.
    declined_attempt: DeclinedAttempt | None = None
    # The amount the provider's answer names, where it names one (checked by `payments attach`). The
    # merchant account needs no field: a provider answers only about the route's own account.
    amount: Money | None = None
    # The card wallet that paid (Stripe's `apple_pay`, `google_pay`...), where the provider tells it.
    wallet: str | None = None


@attrs.frozen
class RefundRequest:
    refund_id: str
    idempotency_key: str
    route: SellerRoute
    external_id: str
    merchant_account: str
    amount: Money


@attrs.frozen
class ProviderRefund:
    """A provider's view of a refund: `status` PENDING until its final word."""

    external_id: str | None
    status: RefundStatus = RefundStatus.SUCCEEDED
    provider_status: str | None = None
    # Why the provider refused or failed it: a stable code and its own words.
    failure_code: str | None = None
    failure_reason: str | None = None


@attrs.frozen
class RefundLookup:
    """What a provider needs to find one of our refunds again.

    `external_id` None: the create's answer was lost, so the refund is found by our id (metadata) or
    by repeating the create under `idempotency_key` while the provider still honours it.
    """

    refund_id: str
    idempotency_key: str
    route: SellerRoute
    payment_external_id: str
    merchant_account: str
    amount: Money
    created_at: datetime
    asked_at: datetime  # now: how old the refund (and its idempotency key) is decides how to look
    external_id: str | None = None


@attrs.frozen
class PaymentAction:
    """Capture or cancel of an open payment at the provider."""

    payment_id: str
    idempotency_key: str
    route: SellerRoute
    external_id: str
    amount: Money
    # The link the customer was given, where the provider names the order by it (CloudPayments).
    payment_link: str | None = None


class PaymentProvider(Protocol):
    """One payment provider. Raises only `ProviderDeclined` or `ProviderUnavailable`.

    `capture` and `cancel` are called only when the profile has TWO_STEP / CANCEL.
    """

    profile: ProviderProfile

    async def create_payment(self, request: PaymentRequest) -> ProviderPayment: ...

    async def fetch_payment(self, route: SellerRoute, external_id: str) -> ProviderPayment: ...

    async def refund(self, request: RefundRequest) -> ProviderRefund: ...

    async def fetch_refund(self, lookup: RefundLookup) -> ProviderRefund | None:
        """The provider's view of a refund; None when it verifiably has no such refund.

        Called only when the profile has REFUND_LOOKUP.
        """

    async def capture(self, action: PaymentAction) -> ProviderPayment: ...

    async def cancel(self, action: PaymentAction) -> ProviderPayment: ...


@attrs.frozen
class ProviderNotice:
    """What a verified provider webhook says about one of our payments.

    `observed` None means the notice is only a hint (unsigned, or not trusted enough): the
    payment's state is re-fetched from the provider before anything changes.

    `fetch_details`: the trusted snapshot names only by id what tells a detail of the payment (a
    Stripe event's PaymentIntent names its Charge, which tells the card wallet that paid). The
    provider is asked once, with no transaction open, and the detail joins the snapshot's change; if
    it does not answer, the snapshot is applied alone.
    """

    provider: str
    external_id: str
    event_id: str | None = None
    observed: ProviderPayment | None = None
    fetch_details: bool = False


@attrs.frozen
class RefundNotice:
    """What a verified provider webhook says about one of our refunds (by the provider's refund id).

    `observed` None: only a hint (unsigned), the refund is fetched from the provider first.
    """

    provider: str
    external_id: str
    event_id: str | None = None
    observed: ProviderRefund | None = None
    # Our own refund id when the provider echoes it (Stripe's metadata): finds a refund whose
    # create answer was lost, before its provider id was known.
    refund_id: str | None = None


# --- Storage -------------------------------------------------------------------------------------


@attrs.frozen
class PaymentSearch:
    """What an operator looks for: `text` is a payment id, the provider's id, an order id or a customer
    id (exact); the rest narrow it; `before_id` pages (ids are time-ordered)."""

    text: str | None = None
    shop_id: int | None = None
    provider: str | None = None
    status: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    before_id: str | None = None
    # What needs attention (the overview's links): a lost create answer, a lost refund answer, or
    # still pending though its lifetime ended before `expired_before`.
    outcome_unknown: bool = False
    refund_outcome_unknown: bool = False
    expired_before: datetime | None = None


class PaymentRepository(Protocol):
    async def add(self, payment: Payment) -> None:
        """Insert; raises `DuplicateIdempotencyKey` when the key was used already."""

    async def get(self, payment_id: str, *, for_update: bool = False) -> Payment | None: ...

    async def get_by_external_id(self, provider: str, external_id: str) -> Payment | None: ...

    async def get_by_idempotency_key(self, key: str) -> Payment | None: ...

    async def list_by_order(self, order_id: str, *, shop_ids: Collection[int] | None) -> Sequence[Payment]:
        """Newest first; `shop_ids` None means every shop."""

    async def list_by_customer(
        self, customer_id: str, *, shop_ids: Collection[int] | None, before_id: str | None, limit: int
    ) -> Sequence[Payment]:
        """Newest first, strictly older than `before_id` (the cursor) when given."""

    async def search(self, search: PaymentSearch, *, shop_ids: Collection[int] | None, limit: int) -> Sequence[Payment]:
        """Newest first, at most `limit`, within `shop_ids` (None: every shop)."""

    async def update(self, payment: Payment, expected_version: int) -> bool:
        """Compare-and-set on `version`: False when someone else changed the row first."""


class RefundRepository(Protocol):
    async def add(self, refund: Refund) -> None: ...

    async def get(self, refund_id: str, *, for_update: bool = False) -> Refund | None: ...

    async def get_by_idempotency_key(self, key: str) -> Refund | None: ...

    async def update(self, refund: Refund) -> None: ...

    async def list_for_payment(self, payment_id: str) -> Sequence[Refund]: ...

    async def get_by_provider_id(self, provider: str, external_id: str) -> Refund | None:
        """The refund of a `provider` payment the provider calls `external_id`."""


class AuditLog(Protocol):
    async def append(self, entry: AuditEntry) -> None: ...

    async def list(self, *, shop_id: int | None, limit: int) -> Sequence[AuditEntry]: ...

    async def list_for_payment(self, payment_id: str) -> Sequence[AuditEntry]:
        """Every entry about one payment (and its refunds), oldest first."""


class RouteRepository(Protocol):
    async def get(self, shop_id: int, provider: str) -> SellerRoute | None: ...

    async def list(self, *, provider: str | None = None, shop_id: int | None = None) -> Sequence[SellerRoute]: ...

    async def add(self, route: SellerRoute) -> None:
        """Insert; raises `RouteAlreadyExists` for a second route of the same shop and provider."""

    async def update(self, route: SellerRoute) -> None: ...


class ProviderEventLog(Protocol):
    async def seen(self, provider: str, event_id: str) -> bool: ...

    async def first_time(self, provider: str, event_id: str, at: datetime) -> bool:
        """Record a provider's event id; False when it was recorded before (a redelivery)."""


class PaymentCheckRepository(Protocol):
    """The poller's schedule: one check per open payment, kept apart from the payment itself."""

    async def add(self, check: PaymentCheck) -> None: ...

    async def get(self, payment_id: str) -> PaymentCheck | None: ...

    async def claim_due(
        self, *, due_by: datetime, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[PaymentCheck]:
        """Lease up to `limit` checks due by `due_by` and held by no live lease, earliest first.

        Concurrent callers never get the same check: PostgreSQL skips rows another claim has locked.
        """

    async def reschedule(self, checks: Sequence[PaymentCheck]) -> None:
        """Store each check's next time and attempts and release its lease; a check gone meanwhile stays gone."""

    async def remove(self, payment_id: str) -> None: ...


class RefundCheckRepository(Protocol):
    """The poller's schedule of open refunds (pending, or with an unknown outcome)."""

    async def add(self, check: RefundCheck) -> None: ...

    async def claim_due(
        self, *, due_by: datetime, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[RefundCheck]: ...

    async def reschedule(self, checks: Sequence[RefundCheck]) -> None: ...

    async def remove(self, refund_id: str) -> None: ...


class OutboxRepository(Protocol):
    """Events stored with the change they tell, then fanned out to webhooks and published to a broker."""

    async def add(self, event: Event) -> None:
        """Store `event` as the next of its payment's sequence."""

    async def get(self, event_id: str) -> Event | None: ...

    async def list_for_payment(self, payment_id: str) -> Sequence[Event]:
        """In sequence order."""

    async def claim_unfanned(self, *, limit: int) -> Sequence[Event]:
        """Events not yet handed to the webhook subscriptions, oldest first, locked until commit."""

    async def mark_fanned_out(self, event_ids: Sequence[str], at: datetime) -> None: ...

    async def claim_unpublished(self, *, now: datetime, lease_until: datetime, limit: int) -> Sequence[Event]:
        """Lease up to `limit` events the broker has not confirmed, oldest first."""

    async def mark_published(self, event_ids: Sequence[str], at: datetime) -> None: ...


class WebhookRepository(Protocol):
    async def add_subscription(self, subscription: WebhookSubscription) -> None: ...

    async def get_subscription(self, subscription_id: str) -> WebhookSubscription | None: ...

    async def list_subscriptions(self, *, active_only: bool) -> Sequence[WebhookSubscription]: ...

    async def update_subscription(self, subscription: WebhookSubscription) -> None: ...

    async def add_delivery(self, delivery: WebhookDelivery) -> None: ...

    async def get_delivery(self, delivery_id: str) -> WebhookDelivery | None: ...

    async def update_delivery(self, delivery: WebhookDelivery) -> None: ...

    async def list_deliveries(
        self,
        *,
        event_id: str | None = None,
        subscription_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> Sequence[WebhookDelivery]:
        """Newest first; `status` is one of `DELIVERY_FILTERS` (`retrying`: pending after a failed attempt)."""

    async def claim_due_deliveries(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[WebhookDelivery]:
        """Lease up to `limit` pending deliveries due by `now`, each the next in its payment's order.

        A delivery waits while an earlier event of its payment is not fanned out yet, or is still
        pending for the same subscription; concurrent callers never get the same delivery.
        """

    async def add_attempt(self, attempt: DeliveryAttempt) -> None: ...

    async def attempts_of(self, delivery_ids: Sequence[str]) -> Sequence[DeliveryAttempt]:
        """Oldest first."""


class UnitOfWork(Protocol):
    """One database transaction. Never held open across a provider call."""

    # Read-only, so that an implementation's own repository classes satisfy them.
    @property
    def payments(self) -> PaymentRepository: ...

    @property
    def refunds(self) -> RefundRepository: ...

    @property
    def routes(self) -> RouteRepository: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def provider_events(self) -> ProviderEventLog: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def checks(self) -> PaymentCheckRepository: ...

    @property
    def refund_checks(self) -> RefundCheckRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def webhooks(self) -> WebhookRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class PaymentLookup(Protocol):
    """Payments read outside any transaction: what a status read or a create's key check needs.

    A store may answer each with one statement on a cheap connection (`adapters.persistence`); any
    store can answer through a unit of work (`application.payment_lookup`).
    """

    async def get(self, payment_id: str) -> Payment | None: ...

    async def by_external_id(self, provider: str, external_id: str) -> Payment | None: ...

    async def by_idempotency_key(self, key: str) -> Payment | None: ...


class CreationJournal(Protocol):
    """The two writes of every create, each atomic on its own and never open across the provider call.

    They are the gateway's hottest path, so a store may write each as a single statement; any store
    can write them through a unit of work (`application.creation_journal`).
    """

    async def open(self, payment: Payment) -> None:
        """Store a new payment; raises `DuplicateIdempotencyKey` when its key was used already."""

    async def record_answer(
        self,
        payment: Payment,
        expected_version: int,
        *,
        entry: AuditEntry,
        events: Sequence[Event],
        check: PaymentCheck | None,
    ) -> bool:
        """Write `payment` as a compare-and-set on `expected_version` with its audit entry, events
        (in order) and poll check, all or nothing. False, with nothing written, when the version
        moved; on True `payment.version` is the stored one."""


class RouteStore(Protocol):
    """Read access to routes outside a transaction (a cache may sit behind it)."""

    async def get(self, shop_id: int, provider: str) -> SellerRoute | None: ...

    async def list_for_shop(self, shop_id: int) -> Sequence[SellerRoute]: ...


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


class ImplicitIdempotency(Protocol):
    """Idempotency for callers that send no key: identical content within a window is one request."""

    async def bind(self, content_key: str, candidate: str, now: datetime, window: timedelta) -> str:
        """The idempotency key `content_key` stands for: the one bound to it less than `window`
        ago, else `candidate`, bound from now on. Atomic: concurrent callers get the same key."""


class ApiKeyRepository(Protocol):
    """API keys inside a unit of work: every change commits with its audit entry."""

    async def add(self, key: ApiKey) -> None: ...

    async def get(self, key_id: str) -> ApiKey | None: ...

    async def revoke(self, key_id: str, at: datetime) -> bool:
        """False when there is no such key or it was revoked already (its first revocation stands)."""


class ApiKeyStore(Protocol):
    """Reads outside a transaction, on every request (a cache may sit behind it)."""

    async def find_by_hash(self, key_hash: str) -> ApiKey | None: ...

    async def list(self) -> Sequence[ApiKey]: ...


class Throttle(Protocol):
    """Paces calls to one provider so that they keep within its rate limit."""

    async def wait_turn(self) -> None:
        """Return when one more request keeps within the limit."""


# --- Reports -------------------------------------------------------------------------------------


@attrs.frozen
class SettledAmount:
    """Money that settled: a payment that succeeded (`refund` False) or a refund that did, at `at`."""

    shop_id: int
    provider: str
    currency: str
    amount_minor: int
    at: datetime
    refund: bool


@attrs.frozen
class Attention:
    """What needs an operator now, within a key's shops (deliveries and the poller: every shop)."""

    payments_outcome_unknown: int
    refunds_outcome_unknown: int
    payments_overdue: int
    deliveries_dead: int
    poller_lag_seconds: float


@attrs.frozen
class OutcomeCount:
    """Payments created in a window, by who took them (`shop_id` or `provider`) and how they ended."""

    shop_id: int
    provider: str
    status: str
    count: int


class ReportReader(Protocol):
    """Aggregate reads for the console and reports, each in one short read-only connection."""

    async def settled_between(
        self, start: datetime, end: datetime, *, shop_ids: Collection[int] | None
    ) -> Sequence[SettledAmount]:
        """Payments that succeeded and refunds that succeeded in [start, end)."""

    async def attention(self, *, now: datetime, shop_ids: Collection[int] | None) -> Attention: ...

    async def outcomes_since(self, since: datetime, *, shop_ids: Collection[int] | None) -> Sequence[OutcomeCount]: ...


# --- Notifications -------------------------------------------------------------------------------


@attrs.frozen
class DeliveryResult:
    """How one webhook request went; `delivered` means the receiver answered 2xx."""

    delivered: bool
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    # Not sent at all: the target is not allowed (`WebhookTargetRules`). Final until an operator redelivers.
    blocked: bool = False


class HostResolver(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[IPv4Address | IPv6Address]:
        """Every address `host` resolves to, without blocking the event loop; `HostUnresolvable` if none."""


class WebhookSender(Protocol):
    async def send(self, url: str, secret: str, event: Event, *, at: datetime) -> DeliveryResult:
        """POST the event signed with `secret` at time `at`; a receiver's failure is a result, never raised."""


class EventPublisher(Protocol):
    async def publish(self, event: Event) -> None:
        """Return once the broker confirmed the event; raise `PublishFailed` otherwise."""


# --- Secrets at rest -----------------------------------------------------------------------------


class SecretCipher(Protocol):
    """Encrypts secrets before they are stored (route credentials, webhook secrets)."""

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, token: str) -> str:
        """Raises `SecretUnreadable` when no configured key opens `token`."""


# --- Time and identity ---------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC."""


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str:
        """A unique, roughly time-ordered id such as `pay_01JD...`."""
