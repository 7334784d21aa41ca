"""Secrets stay out of logs: URL query redaction, the redacting filter, the HTTP client's guards."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from adapters.providers.http_client import build_http_client
from adapters.redaction import (
    SecretRedactingFilter,
    protect_loggers,
    quiet_http_client_loggers,
    redact_secrets,
    redact_url,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://proxy.kz/api/v2/paymentkaspi/create/?phone=77015211545&deviceToken=5b1f-0a2e&access_token=s3cr3t",
            "https://proxy.kz/api/v2/paymentkaspi/create/?phone=77015211545&deviceToken=***&access_token=***",
        ),
        ("https://x/?api_key=a&client_secret=b&password=c&amount=5", "https://x/?api_key=***&client_secret=***&password=***&amount=5"),
        ("https://x/?ACCESS_TOKEN=a%2Bb%2F&token=", "https://x/?ACCESS_TOKEN=***&token=***"),
        ("https://user:pa55@x/path?externalId=1", "https://user:***@x/path?externalId=1"),
        ("https://x/status/?externalId=12800627774", "https://x/status/?externalId=12800627774"),
        ("not a url at all", "not a url at all"),
        # Inside a repr or a log line, the value stops at the quote.
        ("URL('https://x/?access_token=abc')", "URL('https://x/?access_token=***')"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_secrets_masks_known_values_in_any_spelling() -> None:
    secret = "a+b/c="
    text = f"raw {secret}, encoded a%2Bb%2Fc%3D, form-encoded a%2Bb%2Fc%3D, query ?x=1&deviceToken=zzz"

    assert redact_secrets(text, [secret, ""]) == "raw ***, encoded ***, form-encoded ***, query ?x=1&deviceToken=***"


def test_a_longer_secret_is_masked_whole() -> None:
    assert redact_secrets("token abcdef", ["abc", "abcdef"]) == "token ***"


@pytest.fixture
def records() -> Iterator[tuple[logging.Logger, list[logging.LogRecord]]]:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("tests.redaction")
    handler = Keep()
    handler.addFilter(SecretRedactingFilter(["s3cr3t"]))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, seen
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_the_filter_masks_message_args_extras_and_tracebacks(
    records: tuple[logging.Logger, list[logging.LogRecord]],
) -> None:
    logger, seen = records
    try:
        raise RuntimeError("boom with s3cr3t")
    except RuntimeError:
        logger.exception("call %s failed: %d", "https://x/?access_token=s3cr3t", 502, extra={"url": "?key=s3cr3t"})
    logger.info("nothing secret %s", 42)

    failed, plain = seen
    formatted = logging.Formatter("%(message)s %(url)s").format(failed)
    assert "s3cr3t" not in formatted
    assert failed.getMessage() == "call https://x/?access_token=*** failed: 502"
    assert "boom with ***" in formatted
    assert vars(failed)["url"] == "?key=***"  # an `extra` field, unknown to LogRecord's type
    assert (plain.msg, plain.args) == ("nothing secret %s", (42,))  # untouched when nothing matched


def test_the_filter_learns_secrets_at_runtime() -> None:
    guard = SecretRedactingFilter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "device %s", ("d3v1ce",), None)
    guard.add("d3v1ce")

    assert guard.filter(record) is True
    assert record.getMessage() == "device ***"


def test_protecting_a_logger_twice_adds_one_filter() -> None:
    logger = logging.getLogger("tests.redaction.twice")
    try:
        protect_loggers("tests.redaction.twice")
        protect_loggers("tests.redaction.twice")

        assert sum(isinstance(f, SecretRedactingFilter) for f in logger.filters) == 1
    finally:
        logger.filters.clear()


def test_quiet_http_client_loggers_silences_the_request_line() -> None:
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in loggers]
    try:
        quiet_http_client_loggers()

        assert [logger.level for logger in loggers] == [logging.WARNING, logging.WARNING]
        assert all(any(isinstance(f, SecretRedactingFilter) for f in logger.filters) for logger in loggers)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@pytest.mark.anyio
async def test_the_shared_http_client_is_explicit() -> None:
    async with build_http_client(timeout=7.5, max_connections=10) as client:
        assert client.timeout == httpx.Timeout(7.5)
        assert client.follow_redirects is False
        assert client.trust_env is False
    assert client.is_closed
    assert any(isinstance(f, SecretRedactingFilter) for f in logging.getLogger("httpx").filters)


@pytest.mark.parametrize(("timeout", "connections"), [(0, 10), (-1, 10), (5, 0)])
def test_the_shared_http_client_refuses_nonsense(timeout: float, connections: int) -> None:
    with pytest.raises(ValueError):
        build_http_client(timeout=timeout, max_connections=connections)
