"""Per request: a request id (the caller's `X-Request-ID` if sane, else a new one) bound to every
log line, one access log line, and the request metrics by route template."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence

import structlog
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.logs import get_logger
from adapters.metrics import PaygateMetrics
from adapters.redaction import redact_url

from entrypoints.http.errors import LEGACY_PATHS, error_response, legacy_error_shape

HEADER = "X-Request-ID"
_HEADER_NAME = HEADER.lower().encode()
# Ids from load balancers and tracing systems (UUIDs, ULIDs, `Root=1-5f...`): anything else (too
# long, spaces, quotes, control characters) could forge or garble log lines, and is replaced.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")
UNMATCHED = "unmatched"  # one label for every unknown path: raw paths would explode the metrics
_API_KEY_STATE = "api_key_name"

access_log = get_logger("paygate.access")


def _header(scope: Scope, name: bytes) -> str | None:
    # ASGI names headers in lower case: one pass over them, no `Headers` built, no KeyError raised
    # for the usual absent header.
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def request_id_from(header: str | None) -> str:
    if header is not None and _SANE_REQUEST_ID.fullmatch(header):
        return header
    # 128 random bits in 32 hex digits, as `uuid.uuid4().hex` looks, without building a UUID.
    return os.urandom(16).hex()


def identify_caller(request: Request, name: str) -> None:
    """Name the API key of this request in the access log and in every later log line of it."""
    setattr(request.state, _API_KEY_STATE, name)  # kept in `scope["state"]`, where the access log reads it
    structlog.contextvars.bind_contextvars(api_key=name)


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The path template the request matched (`/payments/kaspi/status/{external_id}`), never the raw path."""
    partial: str | None = None
    for route in routes:
        match, child_scope = route.matches(scope)
        if match is Match.NONE:
            continue
        path = getattr(route, "path", "")
        if isinstance(route, Mount):
            inner = route_template(route.routes, {**scope, **child_scope})
            path = path + (inner if inner != UNMATCHED else "/{path}")
        if match is Match.FULL:
            return path
        partial = partial or path  # the path matched, the method did not (405)
    return partial or UNMATCHED


class RequestObservation:
    """Pure ASGI middleware (no task per request, so log context set in handlers stays visible)."""

    def __init__(self, app: ASGIApp, *, metrics: PaygateMetrics, routes: Sequence[BaseRoute]) -> None:
        self._app = app
        self._metrics = metrics
        self._routes = routes
        # Paths of routes without parameters, which are their own template: most requests (creates,
        # callbacks) are spared looking for it. Never grows past the routes there are.
        self._static: dict[str, str] = {}

    def _template(self, scope: Scope, unrouted: Scope, path: str) -> str:
        """The template of the route that ran; `unrouted`: the request's scope before routing."""
        route = scope.get("route")
        if isinstance(route, Route) and scope.get("root_path", "") == unrouted.get("root_path", ""):
            # Starlette's router names the route it chose (or, for a 405, the one whose path
            # matched): outside a mount, its path is the template, found without trying every
            # route's pattern a second time.
            template = route.path
        else:
            template = route_template(self._routes, unrouted)
        if template == path:
            self._static[path] = template
        return template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        # Read from the scope itself: a `Request` would parse the URL to give the same values.
        method, path = scope["method"], scope.get("root_path", "") + scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        request_id = request_id_from(_header(scope, _HEADER_NAME))
        template = self._static.get(path)
        # Routing rewrites the scope (mounts, path parameters): what it was, should the template be
        # found by matching. A shallow copy, not a `Request`.
        unrouted = dict(scope) if template is None else scope
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        legacy_error_shape.set(path.startswith(LEGACY_PATHS))
        status = 500
        response_started = finished = False

        def finish() -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            seconds = time.perf_counter() - started
            route = template or self._template(scope, unrouted, path)
            self._metrics.observe_request(method=method, route=route, status=status, seconds=seconds)
            access_log.info(
                "request",
                method=method,
                path=path,
                query=redact_url(f"?{query}")[1:] or None,
                route=route,
                status=status,
                duration_ms=round(seconds * 1000, 1),
                api_key=scope.get("state", {}).get(_API_KEY_STATE),
            )

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                headers = MutableHeaders(scope=message)
                headers[HEADER] = request_id
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Counted and logged before the last byte leaves: whoever has the answer finds its line.
                finish()
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        except Exception as error:
            if response_started:
                raise
            # Answered here rather than by Starlette's outermost handler so that the 500 carries
            # the request id too; `error_response` logs it with its traceback.
            await error_response(error)(scope, receive, send_with_id)
        finally:
            finish()  # a request that ended without a complete answer (cancelled, failed mid-body)
            structlog.contextvars.clear_contextvars()
