"""The declared edge: msgspec parses, and refuses exactly as the hand-written parser did."""

from __future__ import annotations

from decimal import Decimal

import pytest

from entrypoints.http.endpoints import OPERATIONS
from entrypoints.http.json_body import BadRequest, decode, parse_json
from entrypoints.http.legacy_shapes import KaspiCreateBody
from entrypoints.http.openapi import build_openapi
from entrypoints.http.responses import JsonResponse
from entrypoints.http.shapes import CreatePaymentBody


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"a":1,"a":2}', "a"),
        (b'{"x":{"b":1,"b":2}}', "b"),
        (b'{"x":[{"c":"1:2","c":3}]}', "c"),
        (b'{"a\\u003a":1,"a:":2}', "a:"),  # the same key, once escaped
    ],
)
def test_a_repeated_key_is_refused_wherever_it_is(raw: bytes, field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_json(raw)
    assert (refused.value.code, refused.value.field, refused.value.status) == ("invalid_json", field, 400)


def test_colons_inside_strings_are_not_mistaken_for_keys() -> None:
    raw = b'{"url:": "https://a.kz:8443/x", "n": [{"t": "12:30"}], "e": "\\u003a"}'
    assert parse_json(raw) == {"url:": "https://a.kz:8443/x", "n": [{"t": "12:30"}], "e": ":"}


def test_fractions_are_exact_decimals() -> None:
    assert parse_json(b'{"amount": 5000.10}') == {"amount": Decimal("5000.10")}


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (b'{"a":"x\\u0000"}', "invalid_value", "a"),
        (b'{"a":"\\ud800"}', "invalid_value", "a"),
        (b'{"a":NaN}', "invalid_json", "a"),
    ],
)
def test_what_no_column_holds_is_refused_naming_the_field(raw: bytes, code: str, field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_json(raw)
    assert (refused.value.code, refused.value.field) == (code, field)


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (b'{"shop_id":1,"currency":"KZT"}', "missing_field", "amount"),
        (b'{"shop_id":1,"amount":null,"currency":"KZT"}', "missing_field", "amount"),
        (b'{"shop_id":1,"amount":"5","currency":"KZT"}', "invalid_type", "amount"),
        (b'{"shop_id":1,"amount":1.5,"currency":"KZT"}', "invalid_type", "amount"),
        (b'{"shop_id":1,"amount":5,"currency":"KZTT"}', "too_long", "currency"),
        (b'{"shop_id":1,"amount":5,"currency":"KZT","colour":"red"}', "unknown_field", "colour"),
        (b'{"shop_id":1,"amount":5,"currency":"KZT","metadata":{"ok":"1","bad":2}}', "invalid_type", "metadata.bad"),
        (b"[1]", "invalid_body", None),
    ],
)
def test_msgspec_errors_become_our_codes_and_fields(raw: bytes, code: str, field: str | None) -> None:
    with pytest.raises(BadRequest) as refused:
        decode(raw, CreatePaymentBody)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_a_legacy_body_keeps_numeric_strings_and_hands_back_what_it_ignored() -> None:
    body, ignored = decode(b'{"shop_id":"7","amount":"5000.00","phone":"7701","extra":1}', KaspiCreateBody, legacy=True)
    assert (body.shop_id, body.amount, ignored) == ("7", "5000.00", {"extra": 1})


def test_decimals_are_rendered_as_json_numbers() -> None:
    assert JsonResponse({"refunded_amount": Decimal("5000.50")}).body == b'{"refunded_amount":5000.50}'


def test_the_document_describes_the_declared_operations_from_their_types() -> None:
    document = build_openapi()
    for op in OPERATIONS:
        described = document["paths"][op.path][op.method.lower()]
        answered = described["responses"][str(op.status)]["content"][op.media]["schema"]
        if isinstance(op.answer, type):
            assert answered["$ref"].endswith(f"/{op.answer.__name__}")
            assert op.answer.__name__ in document["components"]["schemas"]
    assert document["components"]["schemas"]["CreatePaymentBody"]["additionalProperties"] is False


@pytest.mark.parametrize("stack", [0, 100, 300])
def test_nesting_deeper_than_the_stack_is_refused_not_crashed(stack: int) -> None:
    def nested(depth: int, raw: bytes) -> object:
        return nested(depth - 1, raw) if depth else parse_json(raw)

    for levels in range(850, 1000, 10):
        try:
            nested(stack, b"[" * levels + b"]" * levels)
        except BadRequest as refused:
            assert refused.code == "invalid_json"
