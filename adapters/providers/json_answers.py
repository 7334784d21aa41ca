"""A provider's JSON answer, read once by msgspec: an object or nothing, its fractions exact."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

# A fraction (`599.50`) becomes the Decimal it spells, never a float.
_DECODER = msgspec.json.Decoder(float_hook=Decimal)
# The standard library's parser, which read these answers before, skipped a UTF-8 byte order mark.
_BOM = b"\xef\xbb\xbf"


def json_object(body: bytes, *, limit: int) -> dict[str, Any] | None:
    """The answer's JSON object; None when it is empty, over `limit` bytes, not JSON or not an object.

    Not JSON includes what RFC 8259 leaves out (NaN, Infinity, an unpaired surrogate escape):
    such an answer tells us nothing we could act on.
    """
    if not body.strip() or len(body) > limit:
        return None
    try:
        document = _DECODER.decode(body.removeprefix(_BOM))
    except (msgspec.DecodeError, RecursionError):
        return None
    return document if isinstance(document, dict) else None
