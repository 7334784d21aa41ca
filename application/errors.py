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
