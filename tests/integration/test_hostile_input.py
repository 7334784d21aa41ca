"""Hostile input through the real app on PostgreSQL: every malformed request gets a clear 4xx, never a 500.
And CORS from CORS_ORIGINS."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from config.settings import Settings

from tests.support.gateways import IssuedKey, RunningGateway, gateway_settings, running_gateway

pytestmark = pytest.mark.postgres

SHOP = 121038
CREATE = "/payments/kaspi/create"
VALID = b'"shop_id": 121038, "amount": 100, "phone": "77015211545"'


def send(gateway: RunningGateway, key: IssuedKey, body: bytes, *, path: str = CREATE, method: str = "POST") -> httpx.Response:
    headers = key.header | {"Content-Type": "application/json"}
    return httpx.request(method, f"{gateway.base_url}{path}", content=body, headers=headers, timeout=30)


def refusal(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["field"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b'{"shop_id": " 121038", "amount": 100, "phone": "77015211545"}', (422, "invalid_type", "shop_id"), id="spaced-string-for-integer"),
        pytest.param(b'{"shop_id": true, "amount": 100, "phone": "77015211545"}', (422, "invalid_type", "shop_id"), id="boolean-for-integer"),
        pytest.param(b'{"shop_id": 121038.0, "amount": 100, "phone": "77015211545"}', (422, "invalid_type", "shop_id"), id="float-for-integer"),
        pytest.param(b'{"shop_id": 121038, "amount": "1e2", "phone": "77015211545"}', (422, "invalid_value", "amount"), id="exponent-string-for-amount"),
        pytest.param(b'{"shop_id": 121038, "amount": 100, "phone": 77015211545}', (422, "invalid_type", "phone"), id="number-for-string"),
        pytest.param(b'{"shop_id": 121038, "amount": 1e400, "phone": "77015211545"}', (422, "invalid_value", "amount"), id="huge-number"),
        pytest.param(b'{"shop_id": 121038, "amount": 1E+999999999, "phone": "77015211545"}', (422, "invalid_value", "amount"), id="huge-exponent"),
        pytest.param(b'{"shop_id": 121038, "amount": 1e-400, "phone": "77015211545"}', (422, "invalid_value", "amount"), id="tiny-number"),
        pytest.param(b'{"shop_id": 121038, "amount": 100.001, "phone": "77015211545"}', (422, "invalid_value", "amount"), id="sub-tiyn"),
        pytest.param(b'{"shop_id": 121038, "amount": ' + b"9" * 4000 + b', "phone": "77015211545"}', (422, "invalid_value", "amount"), id="huge-integer-amount"),
        pytest.param(b'{"shop_id": 121038, "amount": ' + b"9" * 5000 + b', "phone": "77015211545"}', (400, "invalid_json", None), id="integer-beyond-parser-limit"),
        pytest.param(b'{"shop_id": 99999999999999999999, "amount": 100, "phone": "77015211545"}', (422, "invalid_value", "shop_id"), id="shop-id-beyond-64-bits"),
        pytest.param(b'{"shop_id": -1, "amount": 100, "phone": "77015211545"}', (422, "invalid_value", "shop_id"), id="negative-shop-id"),
        pytest.param(b'{"shop_id": 121038, "amount": NaN, "phone": "77015211545"}', (400, "invalid_json", "amount"), id="nan"),
        pytest.param(b'{"shop_id": 121038, "amount": Infinity, "phone": "77015211545"}', (400, "invalid_json", "amount"), id="infinity"),
        pytest.param(b'{"shop_id": 121038, "amount": -Infinity, "phone": "77015211545"}', (400, "invalid_json", "amount"), id="minus-infinity"),
        pytest.param(b'{"shop_id": 121038, "amount": 100, "phone": "\xff\xfe"}', (400, "invalid_json", None), id="non-utf-8"),
        pytest.param(b"\xef\xbb\xbf{" + VALID + b"}", (400, "invalid_json", None), id="byte-order-mark"),
        pytest.param(b'{"shop_id": 121038, "shop_id": 576631, "amount": 100, "phone": "77015211545"}', (400, "invalid_json", "shop_id"), id="duplicate-key"),
        pytest.param(b"{" + VALID + b', "x": {"a": 1, "a": 2}}', (400, "invalid_json", "a"), id="nested-duplicate-key"),
        pytest.param(b"[" * 20000 + b"]" * 20000, (400, "invalid_json", None), id="deeply-nested"),
        pytest.param(b'{"a": ' * 5000 + b"1" + b"}" * 5000, (400, "invalid_json", None), id="deeply-nested-objects"),
        pytest.param(b"{" + VALID + b', "message": "roses\\u0000"}', (422, "invalid_value", "message"), id="nul-in-string"),
        pytest.param(b"{" + VALID + b', "message": "roses\\ud800"}', (422, "invalid_value", "message"), id="lone-surrogate"),
        pytest.param(b"{" + VALID + b', "message": ["\\udfff"]}', (422, "invalid_value", "message"), id="surrogate-in-array"),
        pytest.param(b"{" + VALID + b', "\\ud800": 1}', (400, "invalid_json", None), id="surrogate-in-key"),
        pytest.param(b'"just a string"', (422, "invalid_body", None), id="string-body"),
        pytest.param(b"[]", (422, "invalid_body", None), id="array-body"),
        pytest.param(b"null", (422, "invalid_body", None), id="null-body"),
        pytest.param(b"{" + VALID + b"} trailing", (400, "invalid_json", None), id="trailing-garbage"),
        pytest.param(b"{" + VALID, (400, "invalid_json", None), id="truncated"),
        pytest.param(b"", (422, "missing_field", "shop_id"), id="empty-body"),
        pytest.param(b"{" + VALID + b', "message": "' + b"x" * 256 + b'"}', (422, "too_long", "message"), id="string-too-long"),
        pytest.param(b"{" + VALID + b', "pad": "' + b"x" * 70_000 + b'"}', (413, "body_too_large", None), id="too-large"),
    ],
)
def test_a_malformed_body_gets_a_clear_4xx(
    gateway: RunningGateway, key: IssuedKey, body: bytes, expected: tuple[int, str, str | None]
) -> None:
    assert refusal(send(gateway, key, body)) == expected


def test_a_body_too_large_without_a_content_length_is_cut_off(gateway: RunningGateway, key: IssuedKey) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1000

    response = httpx.post(f"{gateway.base_url}{CREATE}", content=chunks(), headers=key.header, timeout=30)
    assert refusal(response) == (413, "body_too_large", None)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/payments/kaspi/status/abc", (422, "invalid_value", "external_id")),
        ("/payments/kaspi/status/" + "9" * 30, (422, "invalid_value", "external_id")),
        ("/payments/kaspi/status/%D9%A1%D9%A2", (422, "invalid_value", "external_id")),  # Arabic-Indic digits
        ("/payments/kaspi/status/12%0012", (422, "invalid_value", "external_id")),
        ("/admin/configs/99999999999999999999", (422, "invalid_value", "shop_id")),
        ("/admin/configs/0", (422, "invalid_value", "shop_id")),
        ("/admin/configs/-5", (422, "invalid_value", "shop_id")),
        ("/admin/logs?shop_id=9223372036854775808", (422, "invalid_value", "shop_id")),
        ("/admin/logs?shop_id=%00", (422, "invalid_value", "shop_id")),
        ("/admin/logs?limit=0", (422, "invalid_value", "limit")),
        ("/admin/logs?limit=1e3", (422, "invalid_value", "limit")),
        ("/api/payment/config?shop_id=1%2B1", (422, "invalid_value", "shop_id")),
    ],
)
def test_a_malformed_path_or_query_parameter_gets_a_clear_4xx(
    gateway: RunningGateway, key: IssuedKey, path: str, expected: tuple[int, str, str | None]
) -> None:
    response = httpx.get(f"{gateway.base_url}{path}", headers=key.header)
    assert refusal(response) == expected


@pytest.mark.parametrize(
    ("path", "method", "body", "field"),
    [
        ("/admin/configs", "POST", b'{"shop_id": 5, "organization_bin": "18034002179\\u0000"}', "organization_bin"),
        ("/api/payment/status", "PATCH", b'{"shop_id": 121038, "external_id": "1", "status": "Wait", "error_message": "\\u0000"}', "error_message"),
        (
            "/api/payment/log",
            "POST",
            b'{"shop_id": 121038, "organization_bin": "920317450731", "operation_type": "create", "status": "Wait",'
            b' "error_message": "x\\udfffy"}',
            "error_message",
        ),
    ],
)
def test_unstorable_strings_are_refused_on_every_endpoint(
    gateway: RunningGateway, key: IssuedKey, path: str, method: str, body: bytes, field: str
) -> None:
    assert refusal(send(gateway, key, body, path=path, method=method)) == (422, "invalid_value", field)


# CORS


@pytest.fixture
def cors_gateway(sqlite_url: str) -> Iterator[RunningGateway]:
    settings = gateway_settings(sqlite_url, cors_origins=("https://admin.cvety.kz",))
    with running_gateway(settings) as gateway:
        yield gateway


def preflight(gateway: RunningGateway, origin: str) -> httpx.Response:
    return httpx.options(
        f"{gateway.base_url}{CREATE}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )


def test_a_configured_origin_may_call_the_api_from_a_browser(cors_gateway: RunningGateway) -> None:
    allowed = preflight(cors_gateway, "https://admin.cvety.kz")
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://admin.cvety.kz"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert {"authorization", "content-type", "idempotency-key"} <= {
        h.strip().lower() for h in allowed.headers["Access-Control-Allow-Headers"].split(",")
    }
    simple = httpx.get(f"{cors_gateway.base_url}/health", headers={"Origin": "https://admin.cvety.kz"})
    assert simple.headers["Access-Control-Allow-Origin"] == "https://admin.cvety.kz"
    exposed = {h.strip().lower() for h in simple.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"retry-after", "x-request-id"} <= exposed  # a browser reads how long to wait after a 429


def test_any_other_origin_is_not_allowed(cors_gateway: RunningGateway) -> None:
    refused = preflight(cors_gateway, "https://evil.example")
    assert refused.status_code == 400
    assert "Access-Control-Allow-Origin" not in refused.headers
    simple = httpx.get(f"{cors_gateway.base_url}/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in simple.headers


def test_without_cors_origins_no_browser_origin_is_allowed(gateway: RunningGateway) -> None:
    refused = preflight(gateway, "https://admin.cvety.kz")
    assert refused.status_code == 405
    assert not any(header.lower().startswith("access-control-") for header in refused.headers)
    simple = httpx.get(f"{gateway.base_url}/health", headers={"Origin": "https://admin.cvety.kz"})
    assert not any(header.lower().startswith("access-control-") for header in simple.headers)


def test_cors_origins_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"CORS_ORIGINS": "https://admin.cvety.kz, https://cvety.kz ,"})
    assert settings.cors_origins == ("https://admin.cvety.kz", "https://cvety.kz")
