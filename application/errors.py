"""Errors of the application layer: what a use case refuses, and what a provider answered."""

from __future__ import annotations

import attrs


class ApplicationError(Exception):
    code = "application_error"

    def __str__(self) -> str:
        return self.message

    @property
    def message(self) -> str:  # pragma: no cover - every subclass overrides
        return self.code


@attrs.define(str=False)
class ShopNotFound(ApplicationError):
    shop_id: int
    provider: str
    code = "shop_not_found"

    @property
    def message(self) -> str:
        return f"shop {self.shop_id} has no {self.provider} route"


@attrs.define(str=False)
class ShopInactive(ApplicationError):
    shop_id: int
    provider: str
    code = "shop_inactive"

    @property
    def message(self) -> str:
        return f"shop {self.shop_id} is not active for {self.provider} payments"


@attrs.define(str=False)
class RouteMissingCredentials(ApplicationError):
    shop_id: int
    missing: str
    code = "route_missing_credentials"

    @property
    def message(self) -> str:
        return f"shop {self.shop_id} has no {self.missing} configured"


@attrs.define(str=False)
class RouteAlreadyExists(ApplicationError):
    shop_id: int
    provider: str
    code = "route_exists"

    @property
    def message(self) -> str:
        return f"shop {self.shop_id} already has a {self.provider} route"


@attrs.define(str=False)
class PaymentNotFound(ApplicationError):
    reference: str
    code = "payment_not_found"

    @property
    def message(self) -> str:
        return f"payment {self.reference} not found"


@attrs.define(str=False)
class RefundNotFound(ApplicationError):
    refund_id: str
    code = "refund_not_found"

    @property
    def message(self) -> str:
        return f"refund {self.refund_id} not found"


@attrs.define(str=False)
class RefundNotAttachable(ApplicationError):
    """An operator may settle only an open refund the provider itself cannot be asked about."""

    refund_id: str
    reason: str
    code = "refund_not_attachable"

    @property
    def message(self) -> str:
        return f"refund {self.refund_id} cannot be attached: {self.reason}"


@attrs.define(str=False)
class ProviderNotConfigured(ApplicationError):
    provider: str
    code = "provider_not_configured"

    @property
    def message(self) -> str:
        return f"provider {self.provider!r} is not configured on this gateway"


@attrs.define(str=False)
class PaymentDeclined(ApplicationError):
    """The provider gave a definite no; nothing was charged."""

    reference: str
    provider_code: str
    provider_message: str
    code = "provider_declined"

    @property
    def message(self) -> str:
        return f"provider declined: {self.provider_message}"


@attrs.define(str=False)
class ProviderOutcomeUnknown(ApplicationError):
    """The provider did not answer clearly (timeout, 5xx, garbage): money may have moved.

    The payment or refund stays pending; status sync or an operator resolves it.
    """

    reference: str
    reason: str
    timed_out: bool
    code = "provider_outcome_unknown"

    @property
    def message(self) -> str:
        return (
            f"the provider's answer for {self.reference} is unknown ({self.reason}); "
            "it stays pending until status sync resolves it"
        )


@attrs.define(str=False)
class OperationInProgress(ApplicationError):
    reference: str
    code = "operation_in_progress"

    @property
    def message(self) -> str:
        return f"{self.reference} is still being processed; retry later with the same idempotency key"


# What adapters raise across the provider port (no SDK or HTTP exception crosses it).


@attrs.define(str=False)
class ProviderDeclined(Exception):
    """A definite refusal from the provider (bad device token, insufficient funds...)."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@attrs.define(str=False)
class ProviderUnavailable(Exception):
    """No definite answer: timeout, connection error, 5xx or an unreadable body."""

    reason: str
    timed_out: bool = False

    def __str__(self) -> str:
        return self.reason


@attrs.define(str=False)
class DuplicateIdempotencyKey(ApplicationError):
    """Raised by a repository when a row with the same idempotency key exists already."""

    key: str
    code = "idempotency_key_reused"

    @property
    def message(self) -> str:
        return "this idempotency key was used already"


@attrs.define(str=False)
class ConcurrentUpdate(ApplicationError):
    """A compare-and-set lost to another writer; the caller may reload and try again."""

    reference: str
    code = "concurrent_update"

    @property
    def message(self) -> str:
        return f"{self.reference} was changed by another request; retry"


@attrs.define(str=False)
class CapabilityNotSupported(ApplicationError):
    """The provider cannot do this (capture at Kaspi, a phone push at Stripe...)."""

    provider: str
    capability: str
    code = "capability_not_supported"

    @property
    def message(self) -> str:
        return f"provider {self.provider!r} does not support {self.capability.replace('_', ' ')}"


@attrs.define(str=False)
class PaymentNotCapturable(ApplicationError):
    """Only a two-step payment the provider has authorised can be captured."""

    payment_id: str
    status: str
    code = "payment_not_capturable"

    @property
    def message(self) -> str:
        return f"payment {self.payment_id} is {self.status}; only an authorised two-step payment can be captured"


@attrs.define(str=False)
class PaymentNotCancellable(ApplicationError):
    """Only an open payment (pending at the provider, or authorised) can be cancelled."""

    payment_id: str
    status: str
    code = "payment_not_cancellable"

    @property
    def message(self) -> str:
        return f"payment {self.payment_id} is {self.status}; only an open payment can be cancelled"


@attrs.define(str=False)
class SecretUnreadable(ApplicationError):
    """A stored secret opens under none of the configured keys (SECRETS_KEY lost or changed)."""

    what: str
    code = "secret_unreadable"

    @property
    def message(self) -> str:
        return f"the stored {self.what} cannot be decrypted with the configured SECRETS_KEY"


@attrs.define(str=False)
class ApiKeyNotFound(ApplicationError):
    key_id: str
    code = "api_key_not_found"

    @property
    def message(self) -> str:
        return f"API key {self.key_id} not found"


@attrs.define(str=False)
class StatusNotConfirmed(ApplicationError):
    """A client reported a status the provider does not confirm: nothing was changed."""

    external_id: str
    reported: str
    observed: str | None
    code = "status_not_confirmed"

    @property
    def message(self) -> str:
        seen = self.observed or "no answer"
        return f"payment {self.external_id}: the provider says {seen}, not {self.reported}; nothing was changed"


@attrs.define(str=False)
class WebhookNotFound(ApplicationError):
    subscription_id: str
    code = "webhook_not_found"

    @property
    def message(self) -> str:
        return f"webhook subscription {self.subscription_id} not found"


@attrs.define(str=False)
class DeliveryNotFound(ApplicationError):
    delivery_id: str
    code = "delivery_not_found"

    @property
    def message(self) -> str:
        return f"webhook delivery {self.delivery_id} not found"


@attrs.define(str=False)
class WebhookRejected(ApplicationError):
    """An incoming provider webhook failed its provider's check (signature, age, source): nothing changes."""

    provider: str
    reason: str
    code = "webhook_rejected"

    @property
    def message(self) -> str:
        return f"{self.provider} webhook rejected: {self.reason}"


@attrs.define(str=False)
class PublishFailed(Exception):
    """The broker did not confirm an event (down, refused, timed out): it stays in the outbox for later."""

    reason: str

    def __str__(self) -> str:
        return self.reason


@attrs.define(str=False)
class HostUnresolvable(Exception):
    """A webhook target's host name has no address right now (DNS down, no such name)."""

    reason: str

    def __str__(self) -> str:
        return self.reason


@attrs.define(str=False)
class StorageUnavailable(ApplicationError):
    """The database cannot be reached (down, restarting, unreachable, out of connections).

    Raised by the persistence adapters. The work of the failed transaction is rolled back (or, if
    the answer to a COMMIT was lost, done): a retry with the same idempotency key is always safe.
    """

    reason: str
    code = "database_unavailable"

    @property
    def message(self) -> str:
        return "the database is unavailable; retry shortly with the same Idempotency-Key"
