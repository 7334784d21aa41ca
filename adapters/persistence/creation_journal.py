"""The create's two writes on PostgreSQL, one statement each, straight through psycopg.

A create is the gateway's hottest path. Written through SQLAlchemy in transactions it cost nine
round trips (BEGIN, the INSERT, COMMIT; then BEGIN, the UPDATE, three INSERTs, COMMIT) and most of
the CPU of a request. Here each write is one statement in autocommit: PostgreSQL runs a statement
atomically, and data-modifying CTEs make the second write all or nothing: the audit entry, the
events and the poll check are inserted only from the row the compare-and-set updated. The
connections come from psycopg's own pool of autocommit connections (`database.AutocommitPool`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from domain.audit import AuditEntry
from domain.events import Event
from domain.payment import Payment
from domain.polling import PaymentCheck

from application.creation_journal import TransactionalCreationJournal
from application.errors import DuplicateIdempotencyKey
from application.ports import CreationJournal, UnitOfWorkFactory

from adapters.persistence.database import AutocommitPool, storage_errors
from adapters.persistence.outbox import event_payload
from adapters.persistence.repositories import audit_row, payment_row
from adapters.persistence.tables import payment_log, payments

_PAYMENT_COLUMNS = [column.name for column in payments.columns]
_CHANGED_COLUMNS = [name for name in _PAYMENT_COLUMNS if name not in ("id", "created_at")]
_AUDIT_COLUMNS = [column.name for column in payment_log.columns if column.name != "id"]

_OPEN = (
    f"INSERT INTO payments ({', '.join(_PAYMENT_COLUMNS)})"
    f" VALUES ({', '.join(f'%({name})s' for name in _PAYMENT_COLUMNS)})"
    # Only the idempotency key's conflict is an answer; any other violation is raised as it is.
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1"
)

# Events are numbered after the payment's last one, as `SqlAlchemyOutboxRepository.add` does; the
# compare-and-set means no other writer of this payment's events ran in between.
_RECORD_ANSWER = f"""
WITH changed AS (
    UPDATE payments SET {', '.join(f'{name} = %(p_{name})s' for name in _CHANGED_COLUMNS)}
    WHERE id = %(p_id)s AND version = %(expected_version)s
    RETURNING id
), audited AS (
    INSERT INTO payment_log ({', '.join(_AUDIT_COLUMNS)})
    SELECT {', '.join(f'%(a_{name})s' for name in _AUDIT_COLUMNS)} FROM changed
), told AS (
    INSERT INTO outbox_events (id, payment_id, sequence, type, occurred_at, payload)
    SELECT event.id, changed.id, last.sequence + event.position, event.type, event.occurred_at, event.payload
    FROM changed,
        (SELECT coalesce(max(sequence), 0) AS sequence FROM outbox_events WHERE payment_id = %(p_id)s) AS last,
        -- One JSON document for however many events: psycopg adapts arrays slowly, in Python.
        json_to_recordset(%(events)s::json)
            AS event(id text, type text, occurred_at timestamptz, payload text, position integer)
), scheduled AS (
    INSERT INTO payment_checks (payment_id, next_check_at, attempts, leased_until)
    SELECT changed.id, %(check_at)s::timestamptz, %(check_attempts)s, NULL FROM changed
    WHERE %(check_at)s::timestamptz IS NOT NULL
)
SELECT count(*) FROM changed
"""


def journal_for(pool: AutocommitPool | None, uow: UnitOfWorkFactory) -> CreationJournal:
    """One statement per write where there is an autocommit pool (PostgreSQL); else a transaction each."""
    if pool is not None:
        return PostgresCreationJournal(pool)
    return TransactionalCreationJournal(uow)


class PostgresCreationJournal:
    def __init__(self, pool: AutocommitPool) -> None:
        self._pool = pool

    async def open(self, payment: Payment) -> None:
        async with self._autocommit() as connection:
            cursor = await connection.execute(_OPEN, payment_row(payment))
            stored = await cursor.fetchone()
        if stored is None:
            assert payment.idempotency_key is not None  # only that key's conflict is left unraised
            raise DuplicateIdempotencyKey(payment.idempotency_key)

    async def record_answer(
        self,
        payment: Payment,
        expected_version: int,
        *,
        entry: AuditEntry,
        events: Sequence[Event],
        check: PaymentCheck | None,
    ) -> bool:
        parameters: dict[str, Any] = {f"p_{name}": value for name, value in payment_row(payment).items()}
        parameters["p_version"] = expected_version + 1
        parameters["expected_version"] = expected_version
        parameters.update({f"a_{name}": value for name, value in audit_row(entry).items()})
        parameters.update(
            events=json.dumps([
                {
                    "id": event.id,
                    "type": event.type.value,
                    "occurred_at": event.occurred_at.isoformat(),
                    "payload": event_payload(event),
                    "position": position,
                }
                for position, event in enumerate(events, start=1)
            ]),
            check_at=check.next_check_at if check is not None else None,
            check_attempts=check.attempts if check is not None else 0,
        )
        async with self._autocommit() as connection:
            cursor = await connection.execute(_RECORD_ANSWER, parameters)
            row = await cursor.fetchone()
        assert row is not None
        if row[0] != 1:
            return False
        payment.version = expected_version + 1
        return True

    @asynccontextmanager
    async def _autocommit(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        # The pool drops a broken connection and opens another in the background.
        async with storage_errors(), self._pool.connection() as connection:
            yield connection
