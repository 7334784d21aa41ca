"""The request middleware on its own, over real HTTP: ids, templates, and a crash still answered and logged."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from adapters.logs import get_logger
from adapters.metrics import PaygateMetrics

from entrypoints.http.observability import RequestObservation, identify_caller, route_template

from tests.support.logs import JsonLogs
from tests.support.servers import serve


async def crash(request: Request) -> Response:
    identify_caller(request, "crm")
    get_logger("paygate.test").info("about to fail")
    raise RuntimeError("a bug")


async def shop(request: Request) -> Response:
    return JSONResponse({"shop": request.path_params["shop_id"]})


async def inner(request: Request) -> Response:
    return JSONResponse({})


ROUTES: list[BaseRoute] = [
    Route("/crash", crash, methods=["POST"]),
    Route("/shops/{shop_id}", shop, methods=["GET"]),
    Mount("/sandbox", routes=[Route("/payments/{external_id}", inner, methods=["GET"])]),
]


@pytest.fixture
def metrics() -> PaygateMetrics:
    return PaygateMetrics()


@pytest.fixture
def base_url(metrics: PaygateMetrics) -> Iterator[str]:
    app = Starlette(routes=ROUTES, middleware=[Middleware(RequestObservation, metrics=metrics, routes=ROUTES)])
    with serve(app) as url:
        yield url


def test_an_unexpected_error_is_a_json_500_with_the_request_id_logged_with_its_traceback(
    base_url: str, json_logs: JsonLogs
) -> None:
    response = httpx.post(f"{base_url}/crash", headers={"X-Request-ID": "req-crash-1"}, timeout=10)

    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-crash-1"
    assert response.json() == {"success": False, "error": {"code": "internal_error", "message": "internal error", "field": None}}
    lines = json_logs.events(request_id="req-crash-1")
    assert [line["event"] for line in lines] == ["about to fail", "unhandled error", "request"]
    assert "RuntimeError: a bug" in lines[1]["exception"]
    assert (lines[2]["status"], lines[2]["api_key"]) == (500, "crm")


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("GET", "/shops/121038", "/shops/{shop_id}"),
        ("DELETE", "/shops/121038", "/shops/{shop_id}"),  # 405: the path matched, the method did not
        ("GET", "/sandbox/payments/12800000001", "/sandbox/payments/{external_id}"),
        ("GET", "/sandbox/elsewhere", "/sandbox/{path}"),
        ("GET", "/wp-admin/setup.php", "unmatched"),
    ],
)
def test_the_route_template_never_the_raw_path_labels_a_request(method: str, path: str, template: str) -> None:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"", "headers": []}
    assert route_template(ROUTES, scope) == template
