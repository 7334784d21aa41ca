"""Providers' JSON answers as every adapter reads them: one object, fractions exact, or nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.providers.json_answers import json_object


def test_an_object_is_read_with_its_fractions_exact_and_its_integers_whole() -> None:
    document = json_object(b'{"amount": 599.50, "big": 1e400, "id": 18446744073709551616, "ok": true}', limit=1000)
    assert document == {"amount": Decimal("599.50"), "big": Decimal("1E+400"), "id": 2**64, "ok": True}
    assert isinstance(document["amount"], Decimal) and isinstance(document["id"], int)


def test_a_utf8_byte_order_mark_is_skipped() -> None:
    assert json_object(b'\xef\xbb\xbf{"status": "\xd0\xbe\xd0\xba"}', limit=1000) == {"status": "ок"}


@pytest.mark.parametrize(
    "body",
    [
        b"", b"  \n", b"[1, 2]", b'"text"', b"<html>", b'{"a": 1}x', b'{"a": NaN}', b'{"a": -Infinity}',
        b'{"a": "\\ud800"}', b'{"a": "\xff"}', b"[" * 10_000 + b"]" * 10_000, b"\xef\xbb\xbf",
    ],
    ids=[
        "empty", "blank", "array", "string", "html", "trailing", "nan", "infinity", "surrogate", "not-utf8",
        "too-deep", "only-a-bom",
    ],
)
def test_anything_else_is_nothing(body: bytes) -> None:
    assert json_object(body, limit=len(body) + 1) is None


def test_a_body_over_the_limit_is_not_read() -> None:
    body = b'{"a": 1}'
    assert json_object(body, limit=len(body)) == {"a": 1}
    assert json_object(body, limit=len(body) - 1) is None
