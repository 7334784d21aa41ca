"""The webhook wire: the exact body sent, and the `t=...,v1=...` signature a receiver checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

from domain.events import Event, EventType

from adapters.notifications.wire import event_body, signature_header, verify_signature

SECRET = "whsec_test-secret"
EVENT = Event(
    id="evt_01",
    type=EventType.PAYMENT_SUCCEEDED,
    payment_id="pay_01",
    occurred_at=datetime(2025, 10, 22, 12, 0, tzinfo=UTC),
    data={"payment": {"id": "pay_01", "amount": 500000, "description": "Заказ 1001"}},
    sequence=2,
)


def test_the_body_is_the_event_as_compact_utf8_json() -> None:
    body = event_body(EVENT)
    assert json.loads(body) == {
        "id": "evt_01",
        "type": "payment.succeeded",
        "occurred_at": "2025-10-22T12:00:00+00:00",
        "payment_id": "pay_01",
        "sequence": 2,
        "data": {"payment": {"id": "pay_01", "amount": 500000, "description": "Заказ 1001"}},
    }
    assert "Заказ".encode() in body and b" " not in body.replace("Заказ 1001".encode(), b"")


def test_the_body_keeps_its_bytes_keys_sorted_at_every_depth() -> None:
    # The bytes written before msgspec (`json.dumps(..., sort_keys=True)`): a receiver that keeps
    # raw bodies sees the same event as the same text, whichever release sent it.
    assert event_body(EVENT) == (
        '{"data":{"payment":{"amount":500000,"description":"Заказ 1001","id":"pay_01"}},"id":"evt_01",'
        '"occurred_at":"2025-10-22T12:00:00+00:00","payment_id":"pay_01","sequence":2,"type":"payment.succeeded"}'
    ).encode()


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex() -> None:
    body = event_body(EVENT)
    expected = hmac.new(SECRET.encode(), b"1761134400." + body, hashlib.sha256).hexdigest()
    assert signature_header(SECRET, 1761134400, body) == f"t=1761134400,v1={expected}"


def test_a_receiver_accepts_a_fresh_genuine_signature() -> None:
    body = event_body(EVENT)
    header = signature_header(SECRET, 1761134400, body)
    assert verify_signature(SECRET, header, body, now=1761134400 + 299)


def test_a_receiver_refuses_a_forged_altered_or_stale_delivery() -> None:
    body = event_body(EVENT)
    header = signature_header(SECRET, 1761134400, body)
    assert not verify_signature("whsec_other", header, body, now=1761134400)
    assert not verify_signature(SECRET, header, body.replace(b"500000", b"900000"), now=1761134400)
    assert not verify_signature(SECRET, header, body, now=1761134400 + 301)
    assert not verify_signature(SECRET, header.replace("t=1761134400", "t=1761134401"), body, now=1761134400)
    assert not verify_signature(SECRET, "v1=" + header.split("v1=")[1], body, now=1761134400)
