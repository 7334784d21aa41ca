"""Tokens of the links a customer's browser opens: one payment each, until their expiry, under any configured key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.checkout_tokens import MAX_LIFETIME, CheckoutTokens, InvalidCheckoutToken, derive_key

KEY, NEXT_KEY = "WOuLNpYJ7Zsowr_k1B6IvnRdZXnTTEh9OSQW1r5AaAA=", "0M8YQ3Pm8dDFtNdcQ2aHkzjvBIgCYe4yZqUdS8yMa2c="
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=10)


def test_a_token_opens_its_own_payment_until_its_expiry() -> None:
    tokens = CheckoutTokens.from_secrets_keys([KEY])
    token = tokens.sign("pay_A", LATER)
    tokens.verify("pay_A", token, now=NOW)
    with pytest.raises(InvalidCheckoutToken):
        tokens.verify("pay_B", token, now=NOW)
    with pytest.raises(InvalidCheckoutToken):
        tokens.verify("pay_A", token, now=LATER)


@pytest.mark.parametrize("bad", [None, "", "1.2.3", "abc.def", "99999999999999.AAAA", "1799.%%%", "x" * 200])
def test_malformed_tokens_are_refused(bad: str | None) -> None:
    with pytest.raises(InvalidCheckoutToken):
        CheckoutTokens.from_secrets_keys([KEY]).verify("pay_A", bad, now=NOW)


def test_the_expiry_cannot_be_moved_without_the_key() -> None:
    tokens = CheckoutTokens.from_secrets_keys([KEY])
    seconds, mac = tokens.sign("pay_A", LATER).split(".")
    with pytest.raises(InvalidCheckoutToken):
        tokens.verify("pay_A", f"{int(seconds) + 86400}.{mac}", now=NOW)


def test_the_key_is_its_own_and_rotates_with_secrets_key() -> None:
    assert derive_key(KEY) != KEY.encode() and len(derive_key(KEY)) == 32
    old_token = CheckoutTokens.from_secrets_keys([KEY]).sign("pay_A", LATER)
    CheckoutTokens.from_secrets_keys([NEXT_KEY, KEY]).verify("pay_A", old_token, now=NOW)
    with pytest.raises(InvalidCheckoutToken):
        CheckoutTokens.from_secrets_keys([NEXT_KEY]).verify("pay_A", old_token, now=NOW)


def test_a_link_lives_as_long_as_its_payment_and_never_more_than_a_day() -> None:
    assert CheckoutTokens.expiry(NOW, LATER) == LATER
    assert CheckoutTokens.expiry(NOW, NOW + timedelta(days=3)) == NOW + MAX_LIFETIME
    assert CheckoutTokens.expiry(NOW, None) == NOW + MAX_LIFETIME

