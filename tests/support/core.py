"""The whole application core in memory, for service-layer tests: the real `Container` (the one
composition root) with its adapters overridden by the fakes, never the use cases wired by hand."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from dependency_injector import providers

from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.seller_route import Credentials, SellerRoute

from application.api_keys import ApiKeys
from application.audit import AuditRecorder
from application.create_payment import CreatePayment
from application.dispatch_events import DispatchEvents
from application.get_payment import GetPayment
from application.manage_routes import ManageRoutes
from application.manage_webhooks import ManageWebhooks
from application.poll_payments import PollPayments
from application.poll_refunds import PollRefunds
from application.providers import ProviderDirectory
from application.refund_payment import RefundPayment
from application.sync_refund_status import SyncRefundStatus
from application.sync_status import SyncPaymentStatus

from config.container import Container, build_container
from config.settings import Settings

from tests.fakes.api_keys import InMemoryApiKeyStore
from tests.fakes.database import InMemoryDatabase
from tests.fakes.notifications import (
    CountingThrottle,
    RecordingPublisher,
    RecordingWebhookSender,
    StaticHostResolver,
)
from tests.fakes.provider import KASPI_LIFETIME, FakeProvider
from tests.fakes.routes import InMemoryRouteStore
from tests.fakes.system import FixedClock, SequentialIds

# Kaspi and YooKassa on (nobody is called: their adapters are fakes; Stripe stays the provider that
# is not configured), small batches so tests see several.
SETTINGS = Settings(
    kaspi_proxy_url="http://127.0.0.1:9/unused",
    yookassa_api_url="http://127.0.0.1:9/unused",
    poll_batch_size=3,
    poll_concurrency=2,
)
# Another provider a route may name (two credentials: a change merges them).
OTHER_PROVIDER_CREDENTIALS = ("secret_key", "shop_key")


def in_memory_container(
    *,
    db: InMemoryDatabase,
    clock: FixedClock,
    ids: SequentialIds,
    provider: FakeProvider,
    routes: InMemoryRouteStore,
    api_key_store: InMemoryApiKeyStore,
    throttle: CountingThrottle,
    sender: RecordingWebhookSender,
    publisher: RecordingPublisher,
    dns: StaticHostResolver,
    settings: Settings = SETTINGS,
) -> Container:
    """The production container on the fakes: every port an adapter fills is overridden here."""
    container = build_container(settings)
    container.clock.override(providers.Object(clock))
    container.ids.override(providers.Object(ids))
    container.uow.override(providers.Object(db.unit_of_work))
    container.autocommit_pool.override(providers.Object(None))  # no PostgreSQL: a transaction per write
    container.route_store.override(providers.Object(routes))
    container.api_key_store.override(providers.Object(api_key_store))
    container.kaspi.adapter.override(providers.Object(provider))
    container.yookassa.adapter.override(
        providers.Object(FakeProvider("yookassa", credential_names=OTHER_PROVIDER_CREDENTIALS))
    )
    container.kaspi.poll_throttle.override(providers.Object(throttle))
    container.webhook_sender.override(providers.Object(sender))
    container.event_publisher.override(providers.Object(publisher))
    container.webhook_host_resolver.override(providers.Object(dns))
    return container


class InMemoryGateway:
    """One database, one clock, one Kaspi provider, and every use case the container builds on them.

    The use cases are the container's, asked for on each use: a test that puts another adapter in
    (`override`) gets them built again on it, never wired by hand."""

    def __init__(self, *, now: datetime, settings: Settings = SETTINGS) -> None:
        self.db = InMemoryDatabase()
        self.clock = FixedClock(now)
        self.ids = SequentialIds()
        self.provider = FakeProvider("kaspi")
        self.routes = InMemoryRouteStore(self.db)
        self.api_key_store = InMemoryApiKeyStore(self.db)
        self.throttle = CountingThrottle()
        self.sender = RecordingWebhookSender()
        self.publisher = RecordingPublisher()
        # Names resolve only as a test declares (`dns.answers`); others are unresolvable.
        self.dns = StaticHostResolver()
        self.container = self.another_process(settings)

    def another_process(self, settings: Settings = SETTINGS) -> Container:
        """A container of its own on the same fakes (one database, one clock, one Kaspi): a second
        poller or replica, configured by `settings`."""
        return in_memory_container(
            db=self.db, clock=self.clock, ids=self.ids, provider=self.provider, routes=self.routes,
            api_key_store=self.api_key_store, throttle=self.throttle, sender=self.sender,
            publisher=self.publisher, dns=self.dns, settings=settings,
        )

    def override(self, provider: providers.Provider[Any], value: object) -> None:
        """Put `value` where the container's `provider` was (an adapter, a store, a provider's
        adapter); every use case is built again on it. `value` fills the port the use cases see,
        so it need not be of the concrete class the container would build."""
        provider.override(providers.Object(value))
        self.container.reset_singletons()

    @property
    def providers(self) -> ProviderDirectory:
        return self.container.payment_providers()

    @property
    def audit(self) -> AuditRecorder:
        return self.container.audit()

    @property
    def sync(self) -> SyncPaymentStatus:
        return self.container.sync_status()

    @property
    def create(self) -> CreatePayment:
        return self.container.create_payment()

    @property
    def refund_status(self) -> SyncRefundStatus:
        return self.container.sync_refund_status()

    @property
    def refund(self) -> RefundPayment:
        return self.container.refund_payment()

    @property
    def poll_refunds(self) -> PollRefunds:
        return self.container.poll_refunds()

    @property
    def get(self) -> GetPayment:
        return self.container.get_payment()

    @property
    def manage_routes(self) -> ManageRoutes:
        return self.container.manage_routes()

    @property
    def api_keys(self) -> ApiKeys:
        return self.container.api_keys()

    @property
    def poll(self) -> PollPayments:
        return self.container.poll_payments()

    @property
    def dispatch(self) -> DispatchEvents:
        return self.container.dispatch_events()

    @property
    def webhooks(self) -> ManageWebhooks:
        return self.container.manage_webhooks()

    def seed_route(
        self,
        shop_id: int,
        organization_bin: str,
        *,
        device_token: str | None = "8c7d1bd4-1d64-4bd1-9f3c-2c2c3b0f5a11",
        is_active: bool = True,
        provider: str = "kaspi",
    ) -> SellerRoute:
        """Put a route straight into the database, without the audit entry an operator's change makes."""
        route = SellerRoute(
            shop_id=shop_id,
            provider=provider,
            merchant_account=organization_bin,
            credentials=Credentials({"device_token": device_token} if device_token is not None else {}),
            is_active=is_active,
            created_at=self.clock.now(),
            updated_at=self.clock.now(),
        )
        self.db.routes[(shop_id, provider)] = route
        return route

    def seed_payment(
        self,
        shop_id: int,
        *,
        amount: Money,
        status: PaymentStatus = PaymentStatus.SUCCEEDED,
        external_id: str | None = "12800627774",
        provider: str = "kaspi",
        lifetime: timedelta = KASPI_LIFETIME,
    ) -> Payment:
        """Put a payment straight into the database, as if created and settled earlier."""
        route = self.db.routes[(shop_id, provider)]
        now = self.clock.now()
        payment = Payment(
            id=self.ids.new_id("pay"),
            shop_id=shop_id,
            provider=provider,
            method=PaymentMethod.REMOTE,
            amount=amount,
            merchant_account=route.merchant_account,
            description="roses",
            phone="77015211545",
            created_at=now,
            updated_at=now,
            status=status,
            provider_status={PaymentStatus.SUCCEEDED: "Processed", PaymentStatus.PENDING: "Wait"}.get(status, "Error"),
            external_id=external_id,
            expires_at=now + lifetime,
        )
        self.db.payments[payment.id] = copy.deepcopy(payment)
        return payment
