"""The system clock and id generator."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class UlidGenerator:
    """`<prefix>_<ULID>`: 48 bits of milliseconds then 80 random bits, so ids sort by creation time."""

    def new_id(self, prefix: str) -> str:
        value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
        chars = []
        for _ in range(26):
            value, index = divmod(value, 32)
            chars.append(_CROCKFORD[index])
        return f"{prefix}_{''.join(reversed(chars))}"
