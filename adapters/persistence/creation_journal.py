"""The create's two writes on PostgreSQL, one statement each, straight through psycopg.

A create is the gateway's hottest path. Written through SQLAlchemy in transactions it cost nine
round trips (BEGIN, the INSERT, COMMIT; then BEGIN, the UPDATE, three INSERTs, COMMIT) and most of
the CPU of a request. Here each write is one statement in autocommit: PostgreSQL runs a statement
atomically, and data-modifying CTEs make the second write all or nothing: the audit entry, the
events and the poll check are inserted only from the row the compare-and-set updated. The
connections come from psycopg's own pool of autocommit connections (`database.AutocommitPool`).

Under load, the writes of concurrent creates share their statement (group commit, `WriteBatcher`):
still one atomic statement per create, or per several. Alone, a create's write goes out at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import msgspec

from domain.audit import AuditEntry
from domain.events import Event
from domain.payment import Payment
from domain.polling import PaymentCheck

from application.creation_journal import TransactionalCreationJournal
from application.errors import DuplicateIdempotencyKey
from application.ports import CreationJournal, UnitOfWorkFactory

from adapters.persistence.batching import WriteBatcher
from adapters.persistence.database import AutocommitPool, storage_errors
from adapters.persistence.outbox import event_payload
from adapters.persistence.repositories import audit_row, payment_row
from adapters.persistence.tables import column_names, payment_log, payments

_PAYMENT_COLUMNS = ", ".join(column_names(payments))
_ANSWERED_COLUMNS = column_names(payments, without=("id", "created_at", "version"))
_AUDIT_COLUMNS = ", ".join(column_names(payment_log, without=("id",)))  # the database numbers entries
# Concurrent creates share a statement (`WriteBatcher`): the rows travel as one JSON document, so
# that a batch of any size is the same prepared statement. Two statements of a kind in flight: one
# would batch best (docs/performance.md), but a statement waiting on a row lock would then hold up
# every create behind it.
_MAX_BATCH = 64
_FLUSHES = 2

_OPEN = (
    f"INSERT INTO payments ({_PAYMENT_COLUMNS})"
    f" SELECT {_PAYMENT_COLUMNS} FROM json_populate_recordset(NULL::payments, %s::json)"
    # Only the idempotency key's conflict is an answer; any other violation is raised as it is.
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
)

# Each answer is a document: the payment as answered, with the version it was read at; its audit
# entry, events and poll check (a list of none or one); and its place `n` in the batch. As `jsonb`
# it is parsed once, where each `->` on `json` parses it again (PostgreSQL's CPU per create:
# docs/performance.md). Only the rows the compare-and-set updated get their records. Events
# are numbered after the payment's last one, as `SqlAlchemyOutboxRepository.add` does; the
# compare-and-set means no other writer of this payment's events ran in between.
_RECORD_ANSWERS = f"""
WITH answer AS (
    SELECT doc, answered.*
    FROM jsonb_array_elements(%s::jsonb) AS doc, jsonb_populate_record(NULL::payments, doc->'payment') AS answered
), changed AS (
    UPDATE payments SET {", ".join(f"{name} = answer.{name}" for name in _ANSWERED_COLUMNS)},
        version = answer.version + 1
    FROM answer
    WHERE payments.id = answer.id AND payments.version = answer.version
    RETURNING payments.id, answer.doc
), audited AS (
    INSERT INTO payment_log ({_AUDIT_COLUMNS})
    SELECT {_AUDIT_COLUMNS} FROM changed, jsonb_populate_record(NULL::payment_log, changed.doc->'audit')
), told AS (
    INSERT INTO outbox_events (id, payment_id, sequence, type, occurred_at, payload)
    SELECT event.id, changed.id, last.sequence + event.position, event.type, event.occurred_at, event.payload
    FROM changed,
        LATERAL (
            SELECT coalesce(max(sequence), 0) AS sequence FROM outbox_events WHERE payment_id = changed.id
        ) AS last,
        jsonb_to_recordset(changed.doc->'events')
            AS event(id text, type text, occurred_at timestamptz, payload text, position integer)
), scheduled AS (
    INSERT INTO payment_checks (payment_id, next_check_at, attempts, leased_until)
    SELECT changed.id, poll.next_check_at, poll.attempts, NULL
    FROM changed, jsonb_to_recordset(changed.doc->'checks') AS poll(next_check_at timestamptz, attempts integer)
)
SELECT (doc->>'n')::integer FROM changed
"""


# Told which write ("open" or "answer") went out with how many rows: a metric.
BatchObserver = Callable[[str, int], None]


def journal_for(
    pool: AutocommitPool | None, uow: UnitOfWorkFactory, observe_batch: BatchObserver | None = None
) -> CreationJournal:
    """One statement per write where there is an autocommit pool (PostgreSQL); else a transaction each."""
    if pool is not None:
        return PostgresCreationJournal(pool, observe_batch=observe_batch)
    return TransactionalCreationJournal(uow)


@attrs.frozen
class _Answer:
    payment: Payment
    expected_version: int
    entry: AuditEntry
    events: Sequence[Event]
    check: PaymentCheck | None


class PostgresCreationJournal:
    def __init__(self, pool: AutocommitPool, *, observe_batch: BatchObserver | None = None) -> None:
        self._pool = pool
        self._opens = WriteBatcher(
            self._open_many, max_batch=_MAX_BATCH, flushes=_FLUSHES, on_batch=_told(observe_batch, "open")
        )
        self._answers = WriteBatcher(
            self._record_many, max_batch=_MAX_BATCH, flushes=_FLUSHES, on_batch=_told(observe_batch, "answer")
        )

    async def open(self, payment: Payment) -> None:
        if not await self._opens.write(payment):
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
        if not await self._answers.write(_Answer(payment, expected_version, entry, events, check)):
            return False
        payment.version = expected_version + 1
        return True

    async def _open_many(self, batch: Sequence[Payment]) -> list[bool]:
        async with storage_errors(), self._pool.connection() as connection:
            cursor = await connection.execute(_OPEN, (_json([payment_row(payment) for payment in batch]),))
            stored = {row[0] for row in await cursor.fetchall()}
        return [payment.id in stored for payment in batch]

    async def _record_many(self, batch: Sequence[_Answer]) -> list[bool]:
        documents = [
            {
                "n": n,
                "payment": payment_row(answer.payment) | {"version": answer.expected_version},
                "audit": audit_row(answer.entry),
                "events": [
                    {
                        "id": event.id,
                        "type": event.type.value,
                        "occurred_at": event.occurred_at,
                        "payload": event_payload(event),
                        "position": position,
                    }
                    for position, event in enumerate(answer.events, start=1)
                ],
                "checks": []
                if answer.check is None
                else [{"next_check_at": answer.check.next_check_at, "attempts": answer.check.attempts}],
            }
            for n, answer in enumerate(batch)
        ]
        async with storage_errors(), self._pool.connection() as connection:
            cursor = await connection.execute(_RECORD_ANSWERS, (_json(documents),))
            updated = {row[0] for row in await cursor.fetchall()}
        return [n in updated for n in range(len(batch))]



def _told(observe: BatchObserver | None, write: str) -> Callable[[int], None] | None:
    return None if observe is None else functools.partial(observe, write)


def _json(value: Any) -> str:
    # msgspec: several times faster than `json` here, and timestamps in RFC 3339, which PostgreSQL reads.
    return msgspec.json.encode(value).decode()
