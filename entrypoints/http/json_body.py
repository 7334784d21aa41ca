"""Strict JSON request bodies: one parse, typed fields, unknown fields refused.

Numbers with a fraction become `Decimal` (never float); NaN, Infinity, duplicate keys, non-UTF-8
and oversized bodies are refused with a 4xx naming what was wrong.

A legacy body (the old service's paths) takes what that service took: numbers also as numeric
strings (`"8"`, `"5000.00"`), and unknown fields ignored, with a log line naming them.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import msgspec
from starlette.requests import ClientDisconnect, Request

MAX_BODY_BYTES = 64 * 1024
# The numeric strings a legacy body may send: plain digits for ids, at most two decimals for
# amounts; no sign, exponent or whitespace.
_DIGITS = re.compile(r"[0-9]{1,19}")
_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,2})?")

log = logging.getLogger("paygate.http.legacy")
Shape = TypeVar("Shape", bound=msgspec.Struct)


@attrs.define(str=False)
class BadRequest(Exception):
    """The request itself is unreadable or mistyped; `status` is the HTTP status to answer."""

    code: str
    message: str
    field: str | None = None
    status: int = 422

    def __str__(self) -> str:
        return self.message


@attrs.frozen
class _NotANumber:
    """`NaN` or `Infinity` where a number was: refused once its field is known, so the refusal names it."""

    spelling: str


def _constant_in(value: Any) -> _NotANumber | None:
    if isinstance(value, _NotANumber):
        return value
    if isinstance(value, list):
        return next((found for item in value if (found := _constant_in(item)) is not None), None)
    return None  # objects were checked by the hook as they were built, innermost first


def _storable(text: str) -> bool:
    # JSON can spell what no database column holds (PostgreSQL refuses NUL) and what UTF-8 cannot
    # encode (an unpaired surrogate, `\ud800`); either would fail far from here, as a 500. UTF-8
    # refuses exactly the surrogates, so encoding finds them without a Python loop per character;
    # ASCII text (most of it: ids, phones, amounts, keys) has none to find.
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _strings_storable(value: Any) -> bool:
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, list):
        return all(_strings_storable(item) for item in value)
    return True  # objects were checked by the hook as they were built, innermost first


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if not _storable(key):
            raise BadRequest("invalid_json", "a key holds NUL or an unpaired surrogate", status=400)
        if key in result:
            raise BadRequest("invalid_json", f"duplicate key {key!r}", field=key, status=400)
        constant = _constant_in(value)
        if constant is not None:
            raise BadRequest("invalid_json", f"{key}: {constant.spelling} is not a JSON number", field=key, status=400)
        if not _strings_storable(value):
            raise BadRequest("invalid_value", f"{key} holds NUL or an unpaired surrogate", field=key)
        result[key] = value
    return result


def _explain(raw: bytes) -> Any:
    """The exact refusal for a body msgspec refused or flagged: the standard library's parser,
    whose hooks name the field at fault (a duplicate key, NaN, NUL or an unpaired surrogate).
    Only refused bodies come here; a well-formed one is parsed once, by msgspec."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("invalid_json", "body is not UTF-8", status=400) from None
    try:
        parsed = json.loads(text, parse_float=Decimal, parse_constant=_NotANumber, object_pairs_hook=_no_duplicates)
    except BadRequest:
        raise
    except (ValueError, RecursionError):
        raise BadRequest("invalid_json", "body is not valid JSON", status=400) from None
    constant = _constant_in(parsed)  # outside any object: nothing to name
    if constant is not None:
        raise BadRequest("invalid_json", f"{constant.spelling} is not a JSON number", status=400)
    return parsed


# Fractions become exact `Decimal`s (never float), as do integers too large for 64 bits' neighbours.
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def _sound(value: Any) -> tuple[bool, int, int]:
    """(every string storable, keys in all objects, colons inside all strings) of a decoded body."""
    if isinstance(value, str):
        return _storable(value), 0, value.count(":")
    if isinstance(value, dict):
        ok, keys, colons = True, len(value), 0
        for key, item in value.items():
            item_ok, item_keys, item_colons = _sound(item)
            ok = ok and item_ok and _storable(key)
            keys += item_keys
            colons += item_colons + key.count(":")
        return ok, keys, colons
    if isinstance(value, list):
        ok, keys, colons = True, 0, 0
        for item in value:
            item_ok, item_keys, item_colons = _sound(item)
            ok, keys, colons = ok and item_ok, keys + item_keys, colons + item_colons
        return ok, keys, colons
    return True, 0, 0


def _has_duplicates(raw: bytes, keys: int, colons_in_strings: int) -> bool:
    # msgspec keeps the last of two equal keys silently. Every key in the text is followed by one
    # structural colon; every other colon of the text sits inside a string, where decoding keeps it
    # (only the escape `\u003a` makes a colon the text does not show, so such a body is checked
    # the slow way). More structural colons than the objects kept keys means a key was repeated.
    if b"\\u003" in raw.lower():
        return True
    return raw.count(b":") - colons_in_strings != keys


def parse_json(raw: bytes) -> Any:
    """Any JSON body, parsed by msgspec; refused as the old parser did (same codes and fields)."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest("body_too_large", f"body is larger than {MAX_BODY_BYTES} bytes", status=413)
    try:
        parsed = _DECODER.decode(raw)
        storable, keys, colons = _sound(parsed)
    except (msgspec.DecodeError, RecursionError):
        return _explain(raw)  # raises, naming what was wrong
    if not storable or _has_duplicates(raw, keys, colons):
        return _explain(raw)  # raises for a real problem; returns for a `\u003a` false alarm
    return parsed


def _field_of(path: str) -> str | None:
    """`$.metadata.note` → `metadata.note`; `$` (the body itself) → None."""
    return path.removeprefix("$").lstrip(".") or None


_NAMES = {
    "int": "an integer",
    "int | str": "an integer",
    "str": "a string",
    "bool": "true or false",
    "object": "an object",
    "array": "a list",
    "decimal": "a number",
    "float": "a number",
}
_EXPECTED = re.compile(
    r"Expected `(?P<kind>[^`]+)`(?P<rest>[^-]*?)(?:, got `(?P<got>[^`]+)`)?(?: - at `(?P<path>[^`]+)`)?$"
)
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]+)`(?: - at `(?P<path>[^`]+)`)?$")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]+)`(?: - at `(?P<path>[^`]+)`)?$")
_AT = re.compile(r" - at `(?P<path>[^`]+)`$")
_INDEX = re.compile(r"\[[0-9]+\]")


def _joined(path: str | None, name: str) -> str:
    parent = _field_of(path or "$")
    return f"{parent}.{name}" if parent else name


def refusal(error: msgspec.ValidationError) -> BadRequest:
    """msgspec's validation error as our code, message and field (the path without `$.`)."""
    text = str(error)
    if match := _MISSING.match(text):
        field = _joined(match["path"], match["name"])
        return BadRequest("missing_field", f"{field} is required", field=field)
    if match := _UNKNOWN.match(text):
        field = _joined(match["path"], match["name"])
        return BadRequest("unknown_field", f"unknown field {match['name']!r}", field=field)
    if match := _EXPECTED.match(text):
        at_field = _field_of(match["path"] or "$")
        name, rest, got = match["kind"], match["rest"].strip(), match["got"]
        if at_field is None:
            return BadRequest("invalid_body", "body must be a JSON object")
        if got == "null":
            return BadRequest("missing_field", f"{at_field} is required", field=at_field)
        if rest.startswith("of length <="):
            limit = rest.removeprefix("of length <=").strip()
            if name == "array":
                return BadRequest("too_long", f"{at_field} has more than {limit} items", field=at_field)
            return BadRequest("too_long", f"{at_field} is longer than {limit} characters", field=at_field)
        if got is None:
            return BadRequest("invalid_value", f"{at_field}: {text.split(' - at ')[0]}", field=at_field)
        name = name.removesuffix(" | null")
        return BadRequest("invalid_type", f"{at_field} must be {_NAMES.get(name, name)}", field=at_field)
    at = _AT.search(text)
    where = _field_of(at["path"]) if at else None
    message = text[: at.start()] if at else text
    return BadRequest("invalid_value", f"{where}: {message}" if where else message, field=where)


def _named(error: BadRequest, data: dict[str, Any], shape: type[Any]) -> BadRequest:
    """msgspec says `metadata[...]` for a bad entry of an object; we name it `metadata.<key>`. It says
    `event_types[0]` for a bad item of a list: the list is the field (the message names the item)."""
    if error.field is not None and (index := _INDEX.search(error.field)):
        return BadRequest(error.code, error.message, field=error.field[: index.start()], status=error.status)
    if error.field is None or not error.field.endswith("[...]"):
        return error
    name = error.field.removesuffix("[...]")
    entries = data.get(name)
    for key, item in entries.items() if isinstance(entries, dict) else ():
        try:
            msgspec.convert({**data, name: {key: item}}, shape)
        except msgspec.ValidationError:
            field = f"{name}.{key}"
            message = error.message.replace(error.field, field, 1)
            return BadRequest(error.code, message, field=field, status=error.status)
    return error


def decode(raw: bytes, shape: type[Shape], *, legacy: bool = False) -> tuple[Shape, dict[str, Any]]:
    """The body as its declared `shape`, and the fields a legacy body sent beyond it (ignored,
    with a log line; a current body refuses them through the shape's `forbid_unknown_fields`)."""
    data = parse_json(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise BadRequest("invalid_body", "body must be a JSON object")
    try:
        value = msgspec.convert(data, shape)
    except msgspec.ValidationError as error:
        raise _named(refusal(error), data, shape) from None
    ignored: dict[str, Any] = {}
    if legacy:
        known = _field_names(shape)
        ignored = {name: item for name, item in data.items() if name not in known}
        if ignored:
            log.info("legacy request fields ignored: %s", ", ".join(repr(name[:64]) for name in sorted(ignored)[:20]))
    return value, ignored


@functools.cache
def _field_names(shape: type[msgspec.Struct]) -> frozenset[str]:
    return frozenset(field.encode_name for field in msgspec.structs.fields(shape))


async def read_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused (413) past `limit` bytes (provider webhooks carry larger objects)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest("body_too_large", f"body is larger than {limit} bytes", status=413)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest("body_too_large", f"body is larger than {limit} bytes", status=413)
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody will read the answer; what matters is that it is not logged as a server error.
        raise BadRequest("client_disconnected", "the client went away before sending its body", status=400) from None
    return b"".join(chunks)


def legacy_integer(value: int | str, name: str) -> int:
    if isinstance(value, str):
        if _DIGITS.fullmatch(value):
            return int(value)
        raise BadRequest("invalid_type", f"{name} must be an integer", field=name)
    return value


def legacy_amount(value: Any, name: str) -> Decimal:
    if value is None:
        raise BadRequest("missing_field", f"{name} is required", field=name)
    if type(value) is int:
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value):
            return Decimal(value)
        message = f"{name} must be a number, or its digits with at most two decimals"
        raise BadRequest("invalid_value", message, field=name)
    raise BadRequest("invalid_type", f"{name} must be a number", field=name)

