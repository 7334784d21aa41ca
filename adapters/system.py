"""The system clock and id generator."""

from __future__ import annotations

import base64
import os
import time
from datetime import UTC, datetime

# base64's RFC 4648 alphabet, letter for letter into Crockford's (no I, L, O, U).
_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class UlidGenerator:
    """`<prefix>_<ULID>`: 48 bits of milliseconds then 80 random bits, so ids sort by creation time."""

    def new_id(self, prefix: str) -> str:
        value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
        # 26 characters of 5 bits are 130 bits: the 128-bit value shifted 6 bits left fills 17
        # bytes exactly, and their first 26 base32 characters are the ULID's.
        encoded = base64.b32encode((value << 6).to_bytes(17, "big"))[:26].decode()
        return f"{prefix}_{encoded.translate(_TO_CROCKFORD)}"
