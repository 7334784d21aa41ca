"""Keyless legacy creates: the content fingerprint that makes a retry the same request.

The fingerprints are pinned: a retry that straddles a deploy must still match the first attempt,
so the same content has to give the same digest whatever code computes it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import Money
from domain.payment import PaymentMethod

from application.implicit_idempotency import ImplicitIdempotencyKeys
from application.payment_requests import CreatePaymentCommand

from tests.fakes.idempotency import InMemoryImplicitIdempotency
from tests.fakes.system import FixedClock, SequentialIds

pytestmark = pytest.mark.anyio
CALLER = "key_legacy"


def _command(**changes: Any) -> CreatePaymentCommand:
    fields: dict[str, Any] = {
        "shop_id": 121038, "provider": "kaspi", "method": PaymentMethod.REMOTE, "amount": Money(500000, "KZT"),
        "phone": "+7 (707) 123-45-67", "description": "Оплата заказа №42 — 🌷",
    }
    return CreatePaymentCommand(**(fields | changes))


async def _content_keys(command: CreatePaymentCommand, also: dict[str, Any]) -> list[str]:
    store = InMemoryImplicitIdempotency()
    keys = ImplicitIdempotencyKeys(
        store=store, clock=FixedClock(datetime(2026, 12, 7, tzinfo=UTC)), ids=SequentialIds(),
        window=timedelta(minutes=10),
    )
    keyed = await keys.keyed(command, caller=CALLER, also=also)
    assert keyed.idempotency_key == "implicit_000001"
    return list(store.bindings)


@pytest.mark.parametrize(
    ("command", "also", "digest"),
    [
        # Computed by the released code (`json.dumps`: ASCII escapes, sorted keys, decimals as text).
        (
            _command(),
            {
                "order": {"z": 1, "a": [Decimal("5000.00"), 7, None, True]},
                "note": "tab\there\x7f é",
                "ünïcode": Decimal("1E+2"),
                "big": 123456789012345678901234567890,
            },
            "45e4ac5c87333f68b7e0e9fb2dbd1f40feb4c212ce5fec2e629f953f31d76556",
        ),
        (
            _command(shop_id=1, amount=Money(100, "KZT"), phone="not a phone", description=""),
            {},
            "979f98136332040c0ec3d5b577db509e920b11fe6347640d81b644580be25228",
        ),
    ],
    ids=["unicode-and-extra-fields", "plain"],
)
async def test_the_fingerprint_of_a_content_does_not_change(
    command: CreatePaymentCommand, also: dict[str, Any], digest: str
) -> None:
    assert await _content_keys(command, also) == [f"implicit:{CALLER}:{digest}"]


async def test_the_order_of_the_callers_fields_does_not_matter() -> None:
    first = await _content_keys(_command(), {"a": 1, "b": {"y": 2, "x": 3}})
    again = await _content_keys(_command(), {"b": {"x": 3, "y": 2}, "a": 1})
    assert first == again


async def test_an_ignored_field_still_tells_two_orders_apart() -> None:
    first = await _content_keys(_command(), {"order_id": "1001"})
    other = await _content_keys(_command(), {"order_id": "1002"})
    assert first != other


# JSON as a legacy body decodes it (fractions as Decimal, never float); text as the edge lets it in
# (no NUL, no unpaired surrogate).
_TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12)
_SCALARS = st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False, allow_infinity=False) | _TEXT
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3))


@given(description=_TEXT, also=st.dictionaries(_TEXT, _JSON, max_size=4))
async def test_any_content_gives_the_digest_the_first_encoder_gave(description: str, also: dict[str, Any]) -> None:
    command = _command(description=description)
    # Whatever encodes the content (another JSON library, say), it must write what the first one wrote.
    released = json.dumps(
        [121038, "kaspi", "remote", 500000, "KZT", "77071234567", description, also],
        separators=(",", ":"), sort_keys=True, default=str,
    )
    digest = hashlib.sha256(released.encode()).hexdigest()
    assert await _content_keys(command, also) == [f"implicit:{CALLER}:{digest}"]
