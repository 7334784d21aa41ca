"""The use cases wired to the fakes: the whole application core in memory, for service-layer tests."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.seller_route import Credentials, SellerRoute
from domain.webhook_targets import WebhookTargetRules

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
from application.webhook_targets import WebhookTargets

from adapters.providers.kaspi_proxy.polling import KASPI_POLL_SCHEDULE

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


class InMemoryGateway:
    """One database, one clock, one Kaspi provider, and every use case built on them."""

    def __init__(self, *, now: datetime) -> None:
        self.db = InMemoryDatabase()
        self.clock = FixedClock(now)
        self.ids = SequentialIds()
        self.provider = FakeProvider("kaspi")
        self.routes = InMemoryRouteStore(self.db)
        self.api_key_store = InMemoryApiKeyStore(self.db)
        self.providers = providers = ProviderDirectory({self.provider.name: self.provider})
        uow = self.db.unit_of_work
        self.audit = audit = AuditRecorder(uow, self.clock)
        self.sync = SyncPaymentStatus(
            uow=uow, routes=self.routes, providers=providers, audit=audit, clock=self.clock, ids=self.ids
        )
        self.create = CreatePayment(
            uow=uow, routes=self.routes, providers=providers, audit=audit, clock=self.clock, ids=self.ids
        )
        self.refund_status = SyncRefundStatus(
            uow=uow, routes=self.routes, providers=providers, audit=audit, clock=self.clock, ids=self.ids
        )
        self.refund = RefundPayment(
            uow=uow, routes=self.routes, providers=providers, sync=self.sync, refunds=self.refund_status, audit=audit,
            clock=self.clock, ids=self.ids,
        )
        self.poll_refunds = PollRefunds(uow=uow, refunds=self.refund_status, clock=self.clock, throttles={})
        self.get = GetPayment(uow=uow, sync=self.sync)
        self.manage_routes = ManageRoutes(uow=uow, clock=self.clock)
        self.api_keys = ApiKeys(uow=uow, store=self.api_key_store, clock=self.clock, ids=self.ids)
        self.throttle = CountingThrottle()
        self.poll = PollPayments(
            uow=uow, sync=self.sync, clock=self.clock, schedules={"kaspi": KASPI_POLL_SCHEDULE},
            throttles={"kaspi": self.throttle}, batch_size=3, concurrency=2,
        )
        self.sender = RecordingWebhookSender()
        self.publisher = RecordingPublisher()
        self.dispatch = DispatchEvents(
            uow=uow, sender=self.sender, publisher=self.publisher, clock=self.clock, ids=self.ids, batch_size=3
        )
        # Names resolve only as a test declares (`dns.answers`); others are unresolvable.
        self.dns = StaticHostResolver()
        self.webhooks = ManageWebhooks(
            uow=uow, clock=self.clock, ids=self.ids,
            targets=WebhookTargets(rules=WebhookTargetRules(), resolver=self.dns),
        )

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
