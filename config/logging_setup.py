"""Process-wide logging: one handler on the root logger, with every configured secret redacted."""

from __future__ import annotations

import logging

from adapters.redaction import SecretRedactingFilter, protect_http_server_loggers, quiet_http_client_loggers
from config.settings import Settings


def configure_logging(settings: Settings) -> SecretRedactingFilter:
    """Returns the filter so that secrets learnt later (device tokens) can be added to it."""
    redactor = SecretRedactingFilter(settings.secrets())
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    quiet_http_client_loggers()
    protect_http_server_loggers()
    return redactor
