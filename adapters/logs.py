"""Structured loggers whose events always travel through the standard `logging` pipeline.

Whoever configured the process (the CLI, pytest, an embedding app), an event goes through the
handlers' `SecretRedactingFilter` and formatter: structlog never prints on its own.
"""

from __future__ import annotations

import logging

import structlog

_PROCESSORS = (
    structlog.stdlib.filter_by_level,
    # The request id and the caller bound by the HTTP layer join every event of the request.
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger over the stdlib logger `name` (e.g. `paygate.providers`).

    Built here, not by `structlog.wrap_logger`: that gives a lazy proxy which builds a new bound
    logger on every call, for a configuration this module never takes from `structlog.configure`.
    """
    return structlog.stdlib.BoundLogger(logging.getLogger(name), processors=list(_PROCESSORS), context={})
