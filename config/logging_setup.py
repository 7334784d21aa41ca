"""Process-wide logging: one line per event on one root handler, every configured secret redacted.

JSON lines for machines; readable lines for a person at a terminal (LOG_FORMAT, by default console
when stderr is a terminal).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import IO, Any

import msgspec
import structlog

from adapters.redaction import SecretRedactingFilter, protect_http_server_loggers, quiet_http_client_loggers

from config.settings import Settings

_LEADING_KEYS = ("timestamp", "level", "logger", "event")


def _leading_keys_first(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    # Machines do not care about key order; a person reading a line does. uvicorn's terminal
    # colouring of its own messages is noise in JSON.
    event.pop("color_message", None)
    return {**{key: event[key] for key in _LEADING_KEYS if key in event}, **event}


def _dumps(event: Any, **options: Any) -> str:
    # Non-ASCII as it is (Kazakh and Russian shop messages stay readable, and a secret keeps one
    # spelling); no blanks between items, as `_render_flat` writes them.
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), **options)


# Field values msgspec writes exactly as `json.dumps` does (bar blanks): every other kind (a
# Decimal, bytes, a nested dict) goes the standard library's way, written as its repr.
_FLAT = frozenset({str, int, float, bool, type(None)})
_encode = msgspec.json.Encoder().encode


def _render_flat(event: dict[str, Any]) -> str | None:
    """A line of ids, words and numbers, about ten times faster than `json.dumps`; None otherwise."""
    for value in event.values():
        if type(value) not in _FLAT:
            return None
    try:
        return _encode(event).decode()
    except UnicodeEncodeError:  # an unpaired surrogate, which `json.dumps` writes as an escape
        return None


class _RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Renders structlog events and plain `logging` records alike through `processors`.

    The rendered line is redacted once more: tracebacks are formatted here, after the handler's
    filter ran, and must not carry a secret either.
    """

    def __init__(self, redactor: SecretRedactingFilter, processors: list[Any]) -> None:
        super().__init__(
            foreign_pre_chain=[
                # Plain `logging` records (uvicorn, SQLAlchemy, older code) get the request's context
                # and their `extra=` fields too.
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.ExtraAdder(),
            ],
            processors=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name, *processors],
        )
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


class ConsoleLogFormatter(_RedactingFormatter):
    """One readable line per event for a person at a terminal: time, level, event, then its fields."""

    def __init__(self, redactor: SecretRedactingFilter, *, colors: bool) -> None:
        super().__init__(redactor, [
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=True, key="timestamp"),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _leading_keys_first,
            structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback),
        ])


class JsonLogFormatter(_RedactingFormatter):
    """One JSON object per line, for machines (log shippers, `jq`)."""

    def __init__(self, redactor: SecretRedactingFilter) -> None:
        super().__init__(redactor, [
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _leading_keys_first,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ])

    def format(self, record: logging.LogRecord) -> str:
        event = record.msg
        if isinstance(event, dict) and not (record.exc_info or record.stack_info or _TO_FORMAT & event.keys()):
            # Most lines: a structlog event with no traceback or stack to format. Rendered here to
            # the same JSON as the processor chain would give it, without the chain's copy of the
            # record and its eight steps, two lines per request (docs/performance.md).
            timestamp, level = _iso_utc(record.created), record.levelname.lower()
            line = {"timestamp": timestamp, "level": level, "logger": record.name}
            if "event" in event:
                line["event"] = event["event"]
            line.update(event)
            # The record's time, level and logger, whatever a field of the same name says.
            line["timestamp"], line["level"], line["logger"] = timestamp, level, record.name
            return self._redactor.redact(_render_flat(line) or _dumps(line, default=_not_json))
        return super().format(record)


# Event keys the processor chain turns into text (`format_exc_info`, `StackInfoRenderer`).
_TO_FORMAT = frozenset({"exc_info", "stack_info", "exception"})


def _not_json(value: Any) -> Any:
    # What `JSONRenderer` writes for a value JSON has no form for.
    return value.__structlog__() if hasattr(value, "__structlog__") else repr(value)


def _iso_utc(created: float) -> str:
    """What `TimeStamper(fmt="iso", utc=True)` writes; the date and time of day made once a second."""
    global _last_second
    second = math.floor(created)
    micro = round((created - second) * 1_000_000)  # rounded half to even, as `datetime` rounds
    if micro == 1_000_000:
        second, micro = second + 1, 0
    cached, prefix = _last_second
    if second != cached:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (second, prefix)  # one binding: a thread never sees half of it
    return f"{prefix}.{micro:06d}Z" if micro else f"{prefix}Z"


_last_second: tuple[int, str] = (-1, "")


def _not_alembic_preamble(record: logging.LogRecord) -> bool:
    # Alembic announces its dialect whenever it reads the schema version, which `/ready` does on
    # every probe of the load balancer: two lines of noise every few seconds. Upgrades still log.
    return not (
        record.name == "alembic.runtime.migration" and str(record.msg).startswith(("Context impl", "Will assume"))
    )


def log_handler(
    redactor: SecretRedactingFilter, stream: IO[str] | None = None, *, log_format: str = "json"
) -> logging.Handler:
    """The one handler: the redacting filter on every record, then the JSON (or console) formatter."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_not_alembic_preamble)
    handler.addFilter(redactor)
    if log_format == "console":
        handler.setFormatter(ConsoleLogFormatter(redactor, colors=_is_terminal(handler.stream)))
    else:
        handler.setFormatter(JsonLogFormatter(redactor))
    return handler


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def configure_logging(settings: Settings, *, stream: IO[str] | None = None) -> SecretRedactingFilter:
    """Returns the filter so that secrets learnt later (device tokens) can be added to it."""
    redactor = SecretRedactingFilter(settings.secrets())
    # What the JSON lines never show, not collected per record (the logging HOWTO's "Optimization"):
    # the caller's file and line cost a stack walk on every line (docs/performance.md).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    stream = sys.stderr if stream is None else stream
    log_format = settings.log_format or ("console" if _is_terminal(stream) else "json")
    root = logging.getLogger()
    root.handlers[:] = [log_handler(redactor, stream, log_format=log_format)]
    root.setLevel(settings.log_level)
    quiet_http_client_loggers()
    protect_http_server_loggers()
    return redactor
