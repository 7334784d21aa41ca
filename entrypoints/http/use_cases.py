"""Typed access from a route or console page to the core: `use_cases(request).create_payment` is a
`CreatePayment`, so a reader and mypy follow a request into the core. The container (the one
composition root) still builds each use case; this bundle only names and types them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import attrs
from starlette.requests import Request

from application.api_keys import ApiKeys
from application.audit_log import ListAuditLog
from application.cancel_payment import CancelPayment
from application.capture_payment import CapturePayment
from application.checkout_status import CheckoutStatus
from application.client_reports import RecordClientLog, ReportPaymentStatus
from application.create_payment import CreatePayment
from application.get_payment import GetPayment
from application.implicit_idempotency import ImplicitIdempotencyKeys
from application.list_payments import ListPayments
from application.manage_routes import ManageRoutes
from application.manage_webhooks import ManageWebhooks
from application.operations_overview import OperationsOverview
from application.payment_timeline import PaymentTimeline
from application.ports import Clock, IdempotencyStore, RouteStore
from application.provider_notices import HandleProviderNotice
from application.providers import ProviderDirectory
from application.recover_payment import AttachExternalId
from application.refund_payment import RefundPayment
from application.search_payments import SearchPayments
from application.settlement_report import SettlementReport

from adapters.checkout_tokens import CheckoutTokens
from adapters.metrics import PaygateMetrics, Sampler
from adapters.persistence.probe import DatabaseProbe
from adapters.providers.instrumented import ProviderCallBook
from adapters.providers.stripe.webhooks import StripeWebhooks

from entrypoints.provider_report import missing_providers, mode_names

from config.container import Container
from config.settings import Settings


class RateLimit(Protocol):
    """A token bucket per API key (`adapters/rate_limit.py`): seconds to wait, or None to go on."""

    async def acquire(self, bucket: str) -> float | None: ...


@attrs.frozen
class UseCases:
    container: Container

    # --- The edge's own needs: who calls (auth.py), Idempotency-Key (idempotency.py), the settings
    # and clock any route reads, and the operator console's pages (entrypoints/console/), which
    # call the API's use cases below as well.

    @property
    def settings(self) -> Settings:
        return self.container.settings()

    @property
    def clock(self) -> Clock:
        return self.container.clock()

    @property
    def api_keys(self) -> ApiKeys:
        return self.container.api_keys()

    @property
    def rate_limiter(self) -> RateLimit:
        return self.container.rate_limiter()

    @property
    def idempotency_store(self) -> IdempotencyStore:
        return self.container.idempotency_store()

    @property
    def payment_providers(self) -> ProviderDirectory:
        """The providers this process has on (the console's provider choices)."""
        return self.container.payment_providers()

    @property
    def console_signing_key(self) -> bytes:
        """The key console session cookies are signed with (derived from SECRETS_KEY)."""
        return self.container.console_signing_key()

    @property
    def search_payments(self) -> SearchPayments:
        return self.container.search_payments()

    @property
    def payment_timeline(self) -> PaymentTimeline:
        return self.container.payment_timeline()

    @property
    def operations_overview(self) -> OperationsOverview:
        return self.container.operations_overview()

    @property
    def settlement_report(self) -> SettlementReport:
        return self.container.settlement_report()

    @property
    def attach_external_id(self) -> AttachExternalId:
        return self.container.attach_external_id()

    # --- The API's use cases.

    @property
    def create_payment(self) -> CreatePayment:
        return self.container.create_payment()

    @property
    def get_payment(self) -> GetPayment:
        return self.container.get_payment()

    @property
    def list_payments(self) -> ListPayments:
        return self.container.list_payments()

    @property
    def refund_payment(self) -> RefundPayment:
        return self.container.refund_payment()

    @property
    def capture_payment(self) -> CapturePayment:
        return self.container.capture_payment()

    @property
    def cancel_payment(self) -> CancelPayment:
        return self.container.cancel_payment()

    @property
    def implicit_idempotency_keys(self) -> ImplicitIdempotencyKeys:
        return self.container.implicit_idempotency_keys()

    @property
    def manage_routes(self) -> ManageRoutes:
        return self.container.manage_routes()

    @property
    def manage_webhooks(self) -> ManageWebhooks:
        return self.container.manage_webhooks()

    @property
    def list_audit_log(self) -> ListAuditLog:
        return self.container.list_audit_log()

    @property
    def record_client_log(self) -> RecordClientLog:
        return self.container.record_client_log()

    @property
    def report_payment_status(self) -> ReportPaymentStatus:
        return self.container.report_payment_status()

    @property
    def route_store(self) -> RouteStore:
        """The routes as the Bitrix client's config call reads them (cached)."""
        return self.container.route_store()

    # What the seller-route, webhook, report, checkout and provider-notification endpoints use
    # (with `settings`, `clock` and `settlement_report` above).

    @property
    def checkout_tokens(self) -> CheckoutTokens:
        """Signs and checks the links a customer's browser opens without a key."""
        tokens: CheckoutTokens = self.container.checkout_tokens()
        return tokens

    @property
    def checkout_status(self) -> CheckoutStatus:
        return self.container.checkout_status()

    @property
    def handle_provider_notice(self) -> HandleProviderNotice:
        return self.container.handle_provider_notice()

    @property
    def stripe_webhooks(self) -> StripeWebhooks:
        """Verifies Stripe's signed events and reads what they say."""
        webhooks: StripeWebhooks = self.container.stripe_webhooks()
        return webhooks

    # What the probes and the scrape read (health.py); `clock` and `payment_providers` above give
    # their timestamp and the providers this process runs.

    @property
    def database_probe(self) -> DatabaseProbe:
        return self.container.database_probe()

    @property
    def provider_calls(self) -> ProviderCallBook:
        """Each provider's last call: how it is doing, without calling it."""
        return self.container.provider_calls()

    @property
    def provider_modes(self) -> dict[str, str]:
        """`{provider: "live" | "simulator" | "off"}` (never a host)."""
        return mode_names(self.container)

    async def missing_providers(self) -> list[str]:
        """Why payments of active routes would be refused: one reason per provider that is off."""
        return await missing_providers(self.container)

    @property
    def metrics(self) -> PaygateMetrics:
        return self.container.metrics()

    @property
    def metric_samplers(self) -> Mapping[str, Sampler]:
        """The gauges that live in the database, read at every scrape."""
        return self.container.metric_samplers()


def use_cases(request: Request) -> UseCases:
    """The bundle `create_app` put on the application."""
    bundle: UseCases = request.app.state.use_cases
    return bundle
