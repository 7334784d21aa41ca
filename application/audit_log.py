"""Read the audit log, newest first."""

from __future__ import annotations

from collections.abc import Sequence

from domain.audit import AuditEntry
from domain.errors import InvalidValue

from application.ports import UnitOfWorkFactory

MAX_LIMIT = 1000


class ListAuditLog:
    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, *, shop_id: int | None, limit: int = 100) -> Sequence[AuditEntry]:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidValue("limit", f"limit must be between 1 and {MAX_LIMIT}")
        async with self._uow() as uow:
            return await uow.audit.list(shop_id=shop_id, limit=limit)
