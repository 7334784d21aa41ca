"""JSON responses, encoded by msgspec: declared `Struct`s and plain data alike; exact decimal
amounts (tenge in the legacy API) are written as JSON numbers, never through a float."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

_ENCODER = msgspec.json.Encoder(decimal_format="number", enc_hook=str)


def encode(content: Any) -> bytes:
    return _ENCODER.encode(content)


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _ENCODER.encode(content)


def ok(payload: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse({"success": True, **payload}, status_code=status)
