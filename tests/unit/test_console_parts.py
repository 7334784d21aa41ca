"""The console's small parts: the session cookie's signature, CSV cells, the key derivation, the
moment a payment succeeded, and amounts shown from minor units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.secrets import FernetCipher, generate_key

from entrypoints.console.session import Session, SessionSigner, new_session
from entrypoints.console.web import money
from entrypoints.csv_export import cell, to_csv

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_a_session_round_trips_and_a_changed_byte_or_another_key_breaks_it() -> None:
    signer = SessionSigner(b"k" * 32)
    session = new_session("key_01", now=NOW, hours=12)
    cookie = signer.dump(session)
    body, _, signature = cookie.partition(".")
    tampered = body[:-1] + ("A" if body[-1] != "A" else "B") + "." + signature

    assert signer.load(cookie, now=NOW) == session
    assert signer.load(tampered, now=NOW) is None
    assert SessionSigner(b"x" * 32).load(cookie, now=NOW) is None
    assert signer.load("garbage", now=NOW) is None and signer.load(".", now=NOW) is None


def test_a_session_ends_when_its_hours_are_over() -> None:
    signer = SessionSigner(b"k" * 32)
    cookie = signer.dump(new_session("key_01", now=NOW, hours=12))
    assert signer.load(cookie, now=NOW + timedelta(hours=11, minutes=59)) is not None
    assert signer.load(cookie, now=NOW + timedelta(hours=12)) is None


def test_a_cookie_signed_in_before_a_deploy_is_still_the_same_session() -> None:
    # Written by the release before msgspec (`json.dumps`, compact): the same session, the same bytes.
    session = Session("key_01", datetime(2025, 10, 23, 0, 0, tzinfo=UTC), "csrf-token-01")
    cookie = (
        "eyJrIjoia2V5XzAxIiwiZSI6MTc2MTE3NzYwMCwiYyI6ImNzcmYtdG9rZW4tMDEifQ.kToGkmhD2U_Dsdc3rHU3wfkVEYSdqEaRe4QnzraCP30"
    )
    signer = SessionSigner(b"k" * 32)
    assert signer.load(cookie, now=datetime(2025, 10, 22, 12, 0, tzinfo=UTC)) == session
    assert signer.dump(session) == cookie


def test_the_session_key_is_the_same_for_the_same_secrets_key_and_differs_by_purpose() -> None:
    key = generate_key()
    first, again = FernetCipher([key]), FernetCipher([key, generate_key()])
    assert first.derive_key("console-session") == again.derive_key("console-session")
    assert first.derive_key("console-session") != first.derive_key("other")
    assert FernetCipher([generate_key()]).derive_key("console-session") != first.derive_key("console-session")


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_a_cell_a_spreadsheet_would_run_is_defused(text: str) -> None:
    assert cell(text) == "'" + text


def test_other_cells_are_written_as_they_are() -> None:
    assert [cell(v) for v in ("order-1", 150_000, None, "a=b")] == ["order-1", "150000", "", "a=b"]
    assert to_csv(["a", "b"], [["=x", 1]]) == "a,b\r\n'=x,1\r\n"


def test_amounts_are_shown_from_minor_units_without_floats() -> None:
    assert money(123_456_789, "KZT") == "1\u202f234\u202f567.89 KZT"
    assert money(-5, "USD") == "-0.05 USD" and money(None, "KZT") == ""
