"""Keeping secrets out of logs: URL query redaction and a logging filter that masks known secrets."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"

# A query parameter whose name contains one of these words carries a secret (access_token,
# deviceToken, api_key, client_secret, password...). Matching by name needs no list of values,
# so it also protects tokens the process has never been told about.
_SECRET_NAME = r"[^=&;?\s#\"'<>]*?(?:token|secret|key|password|passwd|signature|credential)[^=&;?\s#\"'<>]*"
_SECRET_PARAM = re.compile(
    rf"(?P<head>[?&;](?P<name>{_SECRET_NAME})=)(?P<value>[^&;\s#\"'<>]*)",
    re.IGNORECASE,
)
_USERINFO_PASSWORD = re.compile(r"(?P<head>://[^/@:\s\"'<>]*:)(?P<value>[^/@\s\"'<>]+)(?=@)")

# Loggers of the HTTP stack that print request URLs: httpx's INFO "HTTP Request: GET <url>" (and
# aiohttp's client logger, should it ever), and uvicorn's access log, whose lines carry the query
# string. The Stripe SDK's logger prints every request at INFO and every answer body at DEBUG
# (PaymentIntents carry their client_secret).
HTTP_CLIENT_LOGGERS = ("httpx", "httpcore", "stripe", "aiohttp.client")
HTTP_SERVER_LOGGERS = ("uvicorn.access",)
_guard_lock = threading.Lock()

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset({
    "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName", "levelname",
    "levelno", "lineno", "message", "module", "msecs", "msg", "name", "pathname", "process",
    "processName", "relativeCreated", "stack_info", "taskName", "thread", "threadName",
})
# ...and what structlog's `ProcessorFormatter` adds to its events' records: its logger and the
# name of the method called ("info"), never anything a caller wrote.
_NOT_EXTRA = _STANDARD_ATTRIBUTES | {"_logger", "_name"}


# Field values with no text inside them: nothing to redact.
_SCALARS = frozenset({int, float, bool, type(None)})


def redact_url(url: str) -> str:
    """`url` with the values of secret-named query parameters and any userinfo password masked.

    Works on any text, not only a bare URL, so a log line or a repr holding a URL is redacted too.
    """
    # Each pattern needs its mark ("=" or "://"): most of what is logged (ids, amounts, words) has
    # neither and is passed over without running a regex; every log field comes through here.
    if "=" in url:
        url = _SECRET_PARAM.sub(lambda m: m.group("head") + MASK, url)
    if "://" in url:
        url = _USERINFO_PASSWORD.sub(lambda m: m.group("head") + MASK, url)
    return url


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    """`text` with every known secret (raw or URL-encoded) and every secret-named query value masked."""
    for spelling in _ordered(s for secret in secrets if secret for s in _spellings(secret)):
        text = text.replace(spelling, MASK)
    return redact_url(text)


def _spellings(secret: str) -> set[str]:
    # A secret can show up raw, percent-encoded (in a URL, `+` and `/` change form), or escaped
    # inside a rendered JSON log line (quotes, backslashes, non-ASCII).
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }


def _ordered(secrets: Iterable[str]) -> tuple[str, ...]:
    # Longest first, so a secret that contains another one is masked whole.
    return tuple(sorted(set(secrets), key=len, reverse=True))


class SecretRedactingFilter(logging.Filter):
    """Replaces known secrets and secret-named query parameters in a log record with `***`.

    Attach it to handlers (a logger's own filters do not see records propagated from its
    children) and to loggers that log URLs themselves, such as `httpx`. It never drops a record.
    """

    def __init__(self, secrets: Iterable[str] = (), *, name: str = "") -> None:
        super().__init__(name)
        self._secrets: tuple[str, ...] = ()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Learn more secrets at runtime (device tokens of routes created after startup)."""
        fresh = (spelling for secret in secrets if secret for spelling in _spellings(secret))
        self._secrets = _ordered((*self._secrets, *fresh))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return redact_url(text)

    def may_need_redaction(self, text: str) -> bool:
        """False only when `redact` would leave `text` as it is: no known secret, no URL mark."""
        return "=" in text or "://" in text or any(secret in text for secret in self._secrets)

    def redact_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """A structlog event with its fields redacted: `event` itself when no field needs it.

        Most events hold only ids, numbers and words: their text fields are searched once, joined,
        rather than one by one (two events per request; docs/performance.md). A NUL joins them, so
        no secret is found across two fields; anything nested is walked field by field.
        """
        texts = []
        for value in event.values():
            kind = type(value)
            if kind is str:
                texts.append(value)
            elif kind not in _SCALARS:
                break
        else:
            if not self.may_need_redaction("\0".join(texts)):
                return event
        return {key: self.redact_value(item) for key, item in event.items()}

    def redact_value(self, value: Any) -> Any:
        """`value` with every string inside it (dict values, list items) redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.redact_value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.redact_value(item) for item in value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            # A structlog event on its way to its formatter: redact its fields, keep it a dict.
            record.msg = self.redact_event(record.msg)
        else:
            self._redact_message(record)
        if record.exc_info and not record.exc_text:
            # Format the traceback now so the handler prints the redacted text instead.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key in vars(record).keys() - _NOT_EXTRA:
            # Structured formatters print `extra=` fields as they are.
            value = getattr(record, key)
            if isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True

    def _redact_message(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a filter must never break logging (a bad format string)
            message = str(record.msg)
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None


def protect_loggers(*names: str) -> None:
    """Attach a name-based `SecretRedactingFilter` to each logger once (idempotent)."""
    with _guard_lock:
        for name in names:
            logger = logging.getLogger(name)
            if not any(isinstance(f, SecretRedactingFilter) for f in logger.filters):
                logger.addFilter(SecretRedactingFilter())


def protect_http_client_loggers() -> None:
    """Make httpx's and httpcore's own log lines safe at any level: their URLs carry tokens."""
    protect_loggers(*HTTP_CLIENT_LOGGERS)


def protect_http_server_loggers() -> None:
    """Make uvicorn's access lines safe for anything served that takes secrets in its query string."""
    protect_loggers(*HTTP_SERVER_LOGGERS)


def quiet_http_client_loggers() -> None:
    """Silence httpx's per-request INFO line (`HTTP Request: GET <url>`) and redact what remains."""
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    protect_http_client_loggers()
