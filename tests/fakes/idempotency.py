"""An in-memory idempotency store with the real store's rules: one owner per key, stale claims taken over."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from application.ports import IdempotencyClaim, IdempotencyState, StoredResponse

STALE_AFTER = timedelta(minutes=2)


@attrs.define
class _Entry:
    fingerprint: str
    updated_at: datetime
    response: StoredResponse | None = None


class InMemoryIdempotencyStore:
    def __init__(self, *, stale_after: timedelta = STALE_AFTER) -> None:
        if stale_after <= timedelta(0):
            raise ValueError("stale_after must be positive")
        self._stale_after = stale_after
        self.entries: dict[str, _Entry] = {}

    async def claim(self, key: str, fingerprint: str, now: datetime) -> IdempotencyClaim:
        entry = self.entries.get(key)
        if entry is None:
            self.entries[key] = _Entry(fingerprint, now)
            return IdempotencyClaim(IdempotencyState.STARTED)
        if entry.fingerprint != fingerprint:
            return IdempotencyClaim(IdempotencyState.MISMATCH)
        if entry.response is not None:
            return IdempotencyClaim(IdempotencyState.REPLAY, entry.response)
        if now - entry.updated_at < self._stale_after:
            return IdempotencyClaim(IdempotencyState.IN_PROGRESS)
        # A request that died mid-way would otherwise hold its key forever; the takeover restarts the clock.
        entry.updated_at = now
        return IdempotencyClaim(IdempotencyState.STARTED)

    async def complete(self, key: str, response: StoredResponse, now: datetime) -> None:
        entry = self.entries.get(key)
        if entry is not None:
            entry.response = response
            entry.updated_at = now

    async def release(self, key: str) -> None:
        # A finished response is never forgotten, even by a claimant that was taken over.
        entry = self.entries.get(key)
        if entry is not None and entry.response is None:
            del self.entries[key]


class InMemoryImplicitIdempotency:
    """Content keys bound to idempotency keys for a window, as `SqlImplicitIdempotency` binds them."""

    def __init__(self) -> None:
        self.bindings: dict[str, tuple[str, datetime]] = {}

    async def bind(self, content_key: str, candidate: str, now: datetime, window: timedelta) -> str:
        bound = self.bindings.get(content_key)
        if bound is not None and now - bound[1] < window:
            return bound[0]
        self.bindings[content_key] = (candidate, now)
        return candidate
