"""The system clock and id generator."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # base 32 without I, L, O, U
# Every pair of Crockford characters, by the 10 bits it spells: a ULID's 26 characters are 13
# pairs, looked up rather than encoded character by character (`base64.b32encode` is written in
# Python: 7 µs an id, two or three ids a create; docs/performance.md).
_PAIRS = tuple(first + second for first in _CROCKFORD for second in _CROCKFORD)
# 26 characters of 5 bits are 130 bits: the 128-bit value read 10 bits at a time from bit 129 down.
_SHIFTS = tuple(range(120, -1, -10))


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class UlidGenerator:
    """`<prefix>_<ULID>`: 48 bits of milliseconds then 80 random bits, so ids sort by creation time."""

    def new_id(self, prefix: str) -> str:
        value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
        return f"{prefix}_{''.join([_PAIRS[value >> shift & 0x3FF] for shift in _SHIFTS])}"
