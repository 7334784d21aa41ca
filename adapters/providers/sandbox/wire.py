"""The sandbox's API as the adapter speaks it: the calls, the payment it answers with, its statuses
and its two errors. The sandbox lives in the process, so its "wire" is this Python interface; the
gateway behind it (simulators/sandbox.py) is plugged in by config/simulators.py alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

PENDING = "pending"  # waiting for the customer (link, redirect, push)
AUTHORIZED = "authorized"  # funds held, waiting for capture or cancel
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"

# A payment's `metadata["sandbox_outcome"]` forces its outcome, like a test card number does at a
# real provider: "success" or one of the sandbox's failure reasons.
OUTCOME_METADATA_KEY = "sandbox_outcome"
# How long a customer has to open a link or a checkout page.
PAYMENT_LIFETIME = timedelta(hours=1)


class SandboxRefusal(Exception):
    """A definite no from the sandbox (what a 4xx is at a real provider)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SandboxUnavailable(Exception):
    """The sandbox answered nothing usable; nothing was done (what a 503 is at a real provider)."""


class SandboxPayment(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def failure_reason(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def checkout_url(self) -> str | None: ...
    @property
    def client_secret(self) -> str | None: ...
    @property
    def payment_link(self) -> str | None: ...


class SandboxRefund(Protocol):
    @property
    def id(self) -> str: ...


class SandboxApi(Protocol):
    """The sandbox's calls; each raises `SandboxRefusal` or `SandboxUnavailable` when it fails."""

    async def create(
        self,
        *,
        account: str,
        amount: int,
        currency: str,
        method: str,
        manual_capture: bool,
        description: str,
        idempotency_key: str,
        outcome: str | None = None,
    ) -> SandboxPayment: ...

    async def status(self, *, account: str, payment_id: str) -> SandboxPayment: ...

    async def capture(self, *, account: str, payment_id: str, idempotency_key: str) -> SandboxPayment: ...

    async def cancel(self, *, account: str, payment_id: str, idempotency_key: str) -> SandboxPayment: ...

    async def refund(self, *, account: str, payment_id: str, amount: int, idempotency_key: str) -> SandboxRefund: ...
