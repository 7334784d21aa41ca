"""Checks a payment request against what its route and provider can do, before anything is stored."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from domain.capabilities import METHOD_CAPABILITY, Capability
from domain.errors import InvalidValue
from domain.money import Money
from domain.payment import PaymentMethod
from domain.seller_route import SellerRoute

from application.errors import CapabilityNotSupported, RouteMissingCredentials
from application.ports import ProviderProfile

MAX_DESCRIPTION = 255
MAX_REFERENCE = 128  # order and customer ids
MAX_URL = 2048
MAX_METADATA_KEYS = 20
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500


@attrs.frozen
class CreatePaymentCommand:
    """`provider` None: the shop's default route decides; `method` None: the provider's default."""

    shop_id: int
    provider: str | None
    method: PaymentMethod | None
    amount: Money
    description: str = ""
    phone: str | None = None
    idempotency_key: str | None = None
    actor: str | None = None
    order_id: str | None = None
    customer_id: str | None = None
    return_url: str | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    manual_capture: bool = False


def check_request(
    profile: ProviderProfile, route: SellerRoute, method: PaymentMethod, command: CreatePaymentCommand
) -> None:
    """Raise the first reason the request cannot go to this provider; the field says where."""
    needed = METHOD_CAPABILITY[method]
    if not profile.supports(needed):
        raise CapabilityNotSupported(profile.name, needed.value)
    if command.manual_capture and not profile.supports(Capability.TWO_STEP):
        raise CapabilityNotSupported(profile.name, Capability.TWO_STEP.value)
    for name in profile.credential_names:
        if not route.credentials.get(name):
            raise RouteMissingCredentials(route.shop_id, name)
    amount = command.amount
    if amount.currency not in profile.currencies:
        raise InvalidValue("currency", f"{profile.name} takes {', '.join(sorted(profile.currencies))}")
    if not amount.is_positive():
        raise InvalidValue("amount", "amount must be positive")
    if method is PaymentMethod.REMOTE and command.phone is None:
        raise InvalidValue("phone", "phone is required for a payment pushed to the customer's phone")
    if method is PaymentMethod.REDIRECT and command.return_url is None:
        raise InvalidValue("return_url", "return_url is required for a redirect checkout")
    if len(command.description) > MAX_DESCRIPTION:
        raise InvalidValue("message", f"message is longer than {MAX_DESCRIPTION} characters")
    for field in ("order_id", "customer_id"):
        value = getattr(command, field)
        if value is not None and not (0 < len(value) <= MAX_REFERENCE and value.isprintable()):
            raise InvalidValue(field, f"{field} must be 1 to {MAX_REFERENCE} printable characters")
    if command.return_url is not None:
        _check_url(command.return_url)
    _check_metadata(command.metadata)


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in {"http", "https"} or not parts.netloc:
        raise InvalidValue("return_url", "return_url must be an http(s) URL")


def _check_metadata(metadata: Mapping[str, str]) -> None:
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidValue("metadata", f"metadata holds at most {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        if not (isinstance(key, str) and 0 < len(key) <= MAX_METADATA_KEY):
            raise InvalidValue("metadata", f"metadata keys are 1 to {MAX_METADATA_KEY} characters")
        if not (isinstance(value, str) and len(value) <= MAX_METADATA_VALUE):
            raise InvalidValue("metadata", f"metadata values are strings of at most {MAX_METADATA_VALUE} characters")
