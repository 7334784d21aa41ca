"""API keys and their scopes: who may do what, and which shops a key reaches."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs


class Scope(enum.StrEnum):
    """What an API key may do."""

    PAYMENTS = "payments"  # the foundation's scope: read and write, kept so existing keys work
    PAYMENTS_READ = "payments:read"
    PAYMENTS_WRITE = "payments:write"
    ADMIN = "admin"  # routes, keys, webhooks, the audit log
    ROUTE_SECRETS = "routes:secrets"  # may read a route's credentials (the Bitrix client's config call)


# The scopes a broader scope stands for; `payments` asked for itself is met by read + write together.
_IMPLIED: dict[str, frozenset[str]] = {Scope.PAYMENTS: frozenset({Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE})}


@attrs.frozen
class ApiKey:
    """`shops` None reaches every shop; otherwise only those (other shops' data does not exist for it)."""

    id: str
    name: str
    key_hash: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None
    shops: frozenset[int] | None = None
    prefix: str | None = None  # the key's first characters, to recognise it in a listing

    def allows(self, scope: str) -> bool:
        if self.revoked_at is not None:
            return False
        granted = self.scopes | {implied for s in self.scopes for implied in _IMPLIED.get(s, ())}
        return scope in granted or _IMPLIED.get(scope, frozenset({scope})) <= granted

    def reaches(self, shop_id: int) -> bool:
        return self.shops is None or shop_id in self.shops
