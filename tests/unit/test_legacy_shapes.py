"""The old service's paths (Kaspi, Bitrix, admin configs and logs) and the probes are declared once:
their part of the document is generated from `legacy_shapes`, and the shapes read and answer as the
hand-written parser and views did."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from domain.audit import Outcome

from entrypoints.http import admin_routes, bitrix_routes, health, kaspi_routes
from entrypoints.http.endpoints import OPERATIONS
from entrypoints.http.errors import Error
from entrypoints.http.json_body import BadRequest, decode
from entrypoints.http.legacy_shapes import (
    ClientLog,
    ClientLogBody,
    ClientLogRecorded,
    Health,
    KaspiRefunded,
    NewConfigBody,
    ServiceHealth,
    StatusReportBody,
)
from entrypoints.http.openapi import build_openapi
from entrypoints.http.operations import REF, Operation
from entrypoints.http.responses import encode

DECLARED = [*health.operations, *kaspi_routes.operations, *admin_routes.operations, *bitrix_routes.operations]
DOCUMENT = build_openapi()


def _generated(shape: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    [schema], components = msgspec.json.schema_components([shape], ref_template=REF)
    return schema, components


@pytest.mark.parametrize("op", DECLARED, ids=lambda op: f"{op.method} {op.path}")
def test_the_document_describes_each_operation_from_its_declared_types(op: Operation) -> None:
    described = DOCUMENT["paths"][op.path][op.method.lower()]
    schemas = DOCUMENT["components"]["schemas"]
    shapes = [shape for shape in (op.body, op.answer) if shape is not None]
    for shape in shapes:
        _, components = _generated(shape)
        assert {name: schemas[name] for name in components} == components
    if op.body is not None:
        assert described["requestBody"]["content"]["application/json"]["schema"] == _generated(op.body)[0]
    answered = described["responses"][str(op.status)]["content"][op.media]["schema"]
    assert answered == (_generated(op.answer)[0] if op.answer is not None else {"type": "string"})


def test_every_path_of_the_document_is_a_declared_operation() -> None:
    assert set(DOCUMENT["paths"]) == {op.path for op in OPERATIONS}


def test_every_schema_of_the_document_is_generated_from_a_declared_type() -> None:
    shapes = [shape for op in OPERATIONS for shape in (op.body, op.answer) if shape is not None]
    _schemas, generated = msgspec.json.schema_components([*shapes, Error], ref_template=REF)
    assert DOCUMENT["components"]["schemas"] == generated


def test_legacy_bodies_ignore_unknown_fields_and_document_numbers_as_digits_too() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    for name in ("KaspiCreateBody", "KaspiRefundBody", "ClientLogBody", "StatusReportBody", "NewConfigBody"):
        assert "additionalProperties" not in schemas[name]
        kinds = [alternative["type"] for alternative in schemas[name]["properties"]["shop_id"]["anyOf"]]
        assert kinds == ["integer", "string"]
    # The Bitrix client sends `"error_message": null`: the document says null is taken.
    assert {"type": "null"} in schemas["ClientLogBody"]["properties"]["error_message"]["anyOf"]


def test_the_probes_and_the_document_need_no_key_and_no_database() -> None:
    for op in health.operations:
        described = DOCUMENT["paths"][op.path]["get"]
        assert described["security"] == []
        assert "503" not in described["responses"] or op.path == "/ready"


def test_a_bitrix_log_entry_reads_as_the_client_sends_it() -> None:
    raw = (
        b'{"shop_id": "121038", "organization_bin": "920317450731", "operation_type": "create",'
        b' "status": "Wait", "amount": "100.00", "error_message": null, "provider": null, "source": "bx"}'
    )
    body, ignored = decode(raw, ClientLogBody, legacy=True)
    assert (body.shop_id, body.amount, body.error_message, body.provider) == ("121038", "100.00", None, None)
    assert ignored == {"source": "bx"}


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        (b'{"shop_id": 1, "external_id": "1"}', "missing_field", "status"),
        (b'{"shop_id": 1, "external_id": "1", "status": null}', "missing_field", "status"),
        (b'{"shop_id": true, "external_id": "1", "status": "Wait"}', "invalid_type", "shop_id"),
        (b'{"shop_id": 1, "external_id": 12800627774, "status": "Wait"}', "invalid_type", "external_id"),
        (b'{"shop_id": 1, "external_id": "1", "status": "' + b"W" * 65 + b'"}', "too_long", "status"),
        (b'{"shop_id": 1, "external_id": "1", "status": "Wait", "error_message": 5}', "invalid_type", "error_message"),
    ],
)
def test_a_status_report_is_refused_with_the_old_codes(raw: bytes, code: str, field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        decode(raw, StatusReportBody, legacy=True)
    assert (refused.value.code, refused.value.field) == (code, field)


def test_a_config_body_takes_null_and_a_numeric_string() -> None:
    body, _ = decode(b'{"shop_id": "8", "organization_bin": "920317450731", "is_active": null}', NewConfigBody, legacy=True)
    assert (body.shop_id, body.is_active, body.device_token) == ("8", None, None)
    with pytest.raises(BadRequest) as refused:
        decode(b'{"shop_id": 8, "organization_bin": "920317450731", "is_active": "yes"}', NewConfigBody, legacy=True)
    assert (refused.value.code, refused.value.field) == ("invalid_type", "is_active")


def test_answers_keep_the_old_keys_in_the_old_order() -> None:
    log = ClientLog(121038, "920317450731", "create", None, 5050, Outcome.PENDING, None, "kaspi", "2025-01-02T03:04:05+00:00")
    assert encode(ClientLogRecorded(log=log)) == (
        b'{"success":true,"log":{"shop_id":121038,"organization_bin":"920317450731","operation_type":"create",'
        b'"external_id":null,"amount":5050,"status":"pending","error_message":null,"provider":"kaspi",'
        b'"created_at":"2025-01-02T03:04:05+00:00"}}'
    )
    assert encode(KaspiRefunded("128", Decimal("50.50"), "920317450731")).startswith(b'{"external_id":"128","refunded_amount":50.50,')
    services = {"database": ServiceHealth("up", latency_ms=1.5), "provider:kaspi": ServiceHealth("unknown", reason="idle")}
    assert encode(Health("healthy", {"kaspi": "live"}, services, "t")) == (
        b'{"status":"healthy","providers":{"kaspi":"live"},"services":{"database":{"status":"up","latency_ms":1.5},'
        b'"provider:kaspi":{"status":"unknown","reason":"idle"}},"timestamp":"t"}'
    )


@pytest.mark.parametrize("external_id", ["128\n", "128\r\n", " 128"])
def test_a_kaspi_id_with_a_trailing_newline_is_refused(external_id: str) -> None:
    with pytest.raises(BadRequest) as refused:
        kaspi_routes._external_id(external_id)
    assert refused.value.field == "external_id"
