"""Signed links a customer's browser can follow without an API key: a payment's QR picture and pay page.

A token is `<expiry>.<signature>`: the expiry in Unix seconds, and an HMAC-SHA256 over the payment
id and that expiry, keyed by a key derived from SECRETS_KEY for this one purpose (a leaked token key
reveals nothing of the keys that encrypt secrets at rest, and vice versa). It opens one payment's
page only: the payment id is inside the signature, so no token names another payment, another
shop's least of all. Every configured key verifies; the first signs, so SECRETS_KEY rotates in place.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Whatever the payment's own lifetime, a link stops working after this.
MAX_LIFETIME = timedelta(hours=24)
_PURPOSE = b"paygate checkout link token v1"
_MAX_TOKEN = 128


class InvalidCheckoutToken(Exception):
    """The token is missing, malformed, signed for another payment or past its expiry."""


def derive_key(secrets_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(secrets_key.encode("utf-8"))


class CheckoutTokens:
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("checkout tokens need a key")
        self._keys = tuple(keys)

    @classmethod
    def from_secrets_keys(cls, secrets_keys: Sequence[str]) -> CheckoutTokens:
        return cls([derive_key(key) for key in secrets_keys])

    @staticmethod
    def expiry(created_at: datetime, expires_at: datetime | None) -> datetime:
        """The payment's own expiry, but never later than MAX_LIFETIME after its creation: stable
        for the payment's life, so every read of it shows the same links."""
        longest = created_at + MAX_LIFETIME
        return longest if expires_at is None else min(expires_at, longest)

    def sign(self, payment_id: str, expiry: datetime) -> str:
        seconds = int(expiry.timestamp())
        return f"{seconds}.{_encode(self._mac(self._keys[0], payment_id, seconds))}"

    def verify(self, payment_id: str, token: str | None, *, now: datetime) -> None:
        if not token or len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise InvalidCheckoutToken
        raw_seconds, raw_mac = token.split(".")
        if not (raw_seconds.isascii() and raw_seconds.isdigit() and len(raw_seconds) <= 12):
            raise InvalidCheckoutToken
        try:
            mac = base64.urlsafe_b64decode(raw_mac + "=" * (-len(raw_mac) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCheckoutToken from None
        seconds = int(raw_seconds)
        if not any(hmac.compare_digest(mac, self._mac(key, payment_id, seconds)) for key in self._keys):
            raise InvalidCheckoutToken
        if datetime.fromtimestamp(seconds, UTC) <= now:
            raise InvalidCheckoutToken

    @staticmethod
    def _mac(key: bytes, payment_id: str, seconds: int) -> bytes:
        return hmac.new(key, f"{payment_id}\n{seconds}".encode(), hashlib.sha256).digest()


def _encode(mac: bytes) -> str:
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
