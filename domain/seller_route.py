"""A seller's route to its own merchant account at one provider."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

import attrs

from domain.errors import InvalidValue
from domain.identifiers import Bin, check_shop_id

KASPI = "kaspi"
STRIPE = "stripe"
# A Stripe connected account id; it travels in the Stripe-Account header, so nothing else may pass.
_STRIPE_ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{1,64}")


def _freeze(values: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(values))


@attrs.frozen(repr=False)
class Credentials:
    """Provider secrets of one route (a Kaspi device token, an API secret...).

    The repr never shows a value, so a route can be logged or printed in a traceback safely.
    """

    values: Mapping[str, str] = attrs.field(factory=dict, converter=_freeze)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def secrets(self) -> list[str]:
        return [v for v in self.values.values() if v]

    def __repr__(self) -> str:
        return f"Credentials({', '.join(f'{k}=***' for k in sorted(self.values))})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credentials) and dict(self.values) == dict(other.values)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.values.items())))


def check_merchant_account(provider: str, account: str) -> str:
    """Each provider names merchant accounts its own way; Kaspi's is the organisation's BIN."""
    if provider == KASPI:
        return Bin(account).value
    if provider == STRIPE and not _STRIPE_ACCOUNT.fullmatch(account):
        raise InvalidValue(
            "merchant_account", "a Stripe merchant account is the seller's connected account id (acct_...)"
        )
    if not account or len(account) > 128:
        raise InvalidValue("merchant_account", "merchant account must be 1 to 128 characters")
    return account


@attrs.frozen
class SellerRoute:
    """Where a shop's payments at `provider` go: the seller's own merchant account."""

    shop_id: int
    provider: str
    merchant_account: str
    credentials: Credentials
    is_active: bool
    created_at: datetime
    updated_at: datetime
    # The route a payment takes when the marketplace names no provider (one per shop).
    is_default: bool = False

    def __attrs_post_init__(self) -> None:
        check_shop_id(self.shop_id)
        check_merchant_account(self.provider, self.merchant_account)

    @property
    def organization_bin(self) -> str:
        """Kaspi's name for the merchant account."""
        return self.merchant_account
