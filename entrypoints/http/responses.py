"""JSON responses that carry exact decimal amounts (tenge in the legacy API) without floats."""

from __future__ import annotations

from typing import Any

import simplejson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        text: str = simplejson.dumps(
            content, use_decimal=True, ensure_ascii=False, separators=(",", ":"), default=str
        )
        return text.encode("utf-8")


def ok(payload: dict[str, Any], status: int = 200) -> JsonResponse:
    return JsonResponse({"success": True, **payload}, status_code=status)
