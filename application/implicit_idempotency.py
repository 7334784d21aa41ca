"""Idempotency by content, for the old service's callers that retry a create without a key.

The marketplace backend retries a Kaspi create up to four times and sends no `Idempotency-Key`;
the proxy has none either, so each retry would push another bill to the customer's phone. An
identical request from the same caller within the window is given the first one's idempotency
key: the create then answers with the first payment (or its unknown outcome) and never calls the
provider again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs

from domain.errors import InvalidValue
from domain.identifiers import Phone

from application.payment_requests import CreatePaymentCommand
from application.ports import Clock, IdGenerator, ImplicitIdempotency


def _content(command: CreatePaymentCommand, also: Mapping[str, Any]) -> str:
    """What makes two creates the same request: the phone as Kaspi sees it, the amount exactly, and
    whatever else the caller sent (an order number the gateway ignores still tells two orders apart)."""
    try:
        phone = Phone.parse(command.phone).value if command.phone is not None else None
    except InvalidValue:
        phone = command.phone  # refused later, with the field; still the same content as its twin
    # The standard library's encoder, not msgspec: the application imports only the domain, attrs and
    # the standard library (tests/unit/test_dependency_rule.py). The text must also stay the one
    # earlier releases hashed (ASCII escapes and all), or a keyless retry across a deploy would
    # create a second payment; tests/unit/test_implicit_idempotency.py pins it.
    return json.dumps(
        [
            command.shop_id, command.provider, command.method, command.amount.minor, command.amount.currency,
            phone, command.description, dict(also),
        ],
        separators=(",", ":"),
        sort_keys=True,  # however the caller ordered its fields, nested ones too
        default=str,  # decimals of ignored fields, exactly as sent
    )


class ImplicitIdempotencyKeys:
    def __init__(self, *, store: ImplicitIdempotency, clock: Clock, ids: IdGenerator, window: timedelta) -> None:
        if window <= timedelta(0):
            raise ValueError("the implicit idempotency window must be positive")
        self._store = store
        self._clock = clock
        self._ids = ids
        self._window = window

    async def keyed(
        self, command: CreatePaymentCommand, *, caller: str, also: Mapping[str, Any] | None = None
    ) -> CreatePaymentCommand:
        """`command` with the idempotency key its content (and `also`, the request's other fields)
        stands for, from `caller`, now."""
        digest = hashlib.sha256(_content(command, also or {}).encode()).hexdigest()
        key = await self._store.bind(
            f"implicit:{caller}:{digest}", self._ids.new_id("implicit"), self._clock.now(), self._window
        )
        return attrs.evolve(command, idempotency_key=key)
