"""In-memory fakes of every port, honouring the contracts of the real adapters."""

from __future__ import annotations

from tests.fakes.api_keys import InMemoryApiKeyStore
from tests.fakes.database import (
    InMemoryAuditLog,
    InMemoryDatabase,
    InMemoryPaymentRepository,
    InMemoryRefundRepository,
    InMemoryRouteRepository,
    InMemoryUnitOfWork,
    IntegrityViolation,
)
from tests.fakes.idempotency import InMemoryIdempotencyStore
from tests.fakes.provider import FakeProvider
from tests.fakes.routes import InMemoryRouteStore
from tests.fakes.system import FixedClock, SequentialIds

__all__ = [
    "FakeProvider",
    "FixedClock",
    "InMemoryApiKeyStore",
    "InMemoryAuditLog",
    "InMemoryDatabase",
    "InMemoryIdempotencyStore",
    "InMemoryPaymentRepository",
    "InMemoryRefundRepository",
    "InMemoryRouteRepository",
    "InMemoryRouteStore",
    "InMemoryUnitOfWork",
    "IntegrityViolation",
    "SequentialIds",
]
