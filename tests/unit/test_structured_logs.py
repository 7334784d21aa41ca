"""Structured JSON logs: one object per line, the request's context on each, never a secret."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
import structlog

from adapters.logs import get_logger

from config.logging_setup import configure_logging
from config.settings import Settings, SettingsError

from tests.support.logs import JsonLogs

TOKEN = "tok-5b1f0a2e+/="
QUOTED = 'sec"ret\\with-escapes-ü'


@pytest.fixture(autouse=True)
def no_context() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


def test_structlog_and_plain_logging_both_write_one_json_object_per_line(json_logs: JsonLogs) -> None:
    get_logger("paygate.test").info("provider_call", provider="kaspi", duration_ms=12.5, shop_id=121038)
    logging.getLogger("uvicorn.error").warning("plain %s line", "stdlib", extra={"port": 8015})

    structured, plain = json_logs.events()
    assert structured["event"] == "provider_call"
    assert structured | {"timestamp": None} == {
        "timestamp": None, "level": "info", "logger": "paygate.test", "event": "provider_call",
        "provider": "kaspi", "duration_ms": 12.5, "shop_id": 121038,
    }
    assert structured["timestamp"].endswith("Z")
    assert plain["event"] == "plain stdlib line"
    assert (plain["level"], plain["logger"], plain["port"]) == ("warning", "uvicorn.error", 8015)
    assert list(plain)[:4] == ["timestamp", "level", "logger", "event"]


def test_context_bound_for_a_request_joins_every_line_structured_or_not(json_logs: JsonLogs) -> None:
    structlog.contextvars.bind_contextvars(request_id="req-1", api_key="crm")
    get_logger("paygate.test").info("inside")
    logging.getLogger("paygate.http").info("inside too")
    structlog.contextvars.clear_contextvars()
    get_logger("paygate.test").info("outside")

    inside, inside_too, outside = json_logs.events()
    assert inside["request_id"] == inside_too["request_id"] == "req-1"
    assert inside["api_key"] == inside_too["api_key"] == "crm"
    assert "request_id" not in outside


def test_debug_events_are_dropped_below_the_configured_level(json_logs: JsonLogs) -> None:
    get_logger("paygate.test").debug("wire detail")
    assert json_logs.events() == []


def test_no_secret_survives_in_fields_messages_urls_or_tracebacks(json_logs: JsonLogs) -> None:
    json_logs.redactor.add(TOKEN, QUOTED)
    log = get_logger("paygate.test")
    log.info("call", url=f"https://proxy/create/?deviceToken=unknown-to-us&access_token={TOKEN}", nested={"a": [QUOTED]})
    logging.getLogger("paygate.test").warning("device %s refused", TOKEN)
    try:
        raise RuntimeError(f"boom with {QUOTED} and {TOKEN}")
    except RuntimeError:
        log.exception("structured failure")
        logging.getLogger("paygate.test").exception("plain failure")

    text = json_logs.text
    for spelling in (TOKEN, QUOTED, json.dumps(QUOTED)[1:-1], json.dumps(QUOTED, ensure_ascii=False)[1:-1], "unknown-to-us"):
        assert spelling not in text
    call, refused, structured, plain = json_logs.events()
    assert call["url"] == "https://proxy/create/?deviceToken=***&access_token=***"
    assert call["nested"] == {"a": ["***"]}
    assert refused["event"] == "device *** refused"
    for failure in (structured, plain):
        assert "RuntimeError: boom with *** and ***" in failure["exception"]


def test_a_line_leads_with_time_level_logger_and_event_then_the_fields_then_the_context(json_logs: JsonLogs) -> None:
    structlog.contextvars.bind_contextvars(request_id="req-1")
    get_logger("paygate.test").warning("odd_value", amount=Decimal("1.50"), level="not the level", shop_id=7)

    line = json_logs.text.splitlines()[0]
    event = json.loads(line)
    assert list(event) == ["timestamp", "level", "logger", "event", "amount", "shop_id", "request_id"]
    assert event["level"] == "warning"  # the logging level, whatever a field says
    assert event["amount"] == "Decimal('1.50')"  # what JSON has no form for is written as its repr
    assert event["timestamp"].endswith("Z")


def test_configure_logging_puts_the_json_handler_on_the_root_logger_with_the_settings_secrets() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        redactor = configure_logging(Settings(kaspi_access_token=TOKEN, log_level="WARNING"), stream=stream)
        get_logger("paygate.test").info("below the level")
        get_logger("paygate.test").warning("token", value=TOKEN)
        redactor.add("learnt-later")
        logging.getLogger("x").error("learnt-later device token")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["event"], line.get("value")) for line in lines] == [("token", "***"), ("*** device token", None)]


def test_alembics_dialect_preamble_on_every_readiness_probe_is_dropped_but_upgrades_are_logged(json_logs: JsonLogs) -> None:
    alembic = logging.getLogger("alembic.runtime.migration")
    alembic.info("Context impl %s.", "PostgresqlImpl")
    alembic.info("Will assume %s DDL.", "transactional")
    alembic.info("Running upgrade %s -> %s, %s", "0001", "0002", "polling")

    assert [e["event"] for e in json_logs.events()] == ["Running upgrade 0001 -> 0002, polling"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _configured(settings: Settings, stream: io.StringIO) -> str:
    """What `configure_logging` makes of a structlog event and a plain record on `stream`."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging(settings, stream=stream)
        get_logger("paygate.poller").info("poll_sweep", checked=3, changed=1, token=TOKEN)
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    return stream.getvalue()


def test_at_a_terminal_lines_are_readable_not_json_and_still_redacted() -> None:
    coloured = _configured(Settings(kaspi_access_token=TOKEN), _Terminal())
    text = re.sub(r"\x1b\[[0-9;]*m", "", coloured)

    assert text != coloured
    structured, plain = text.splitlines()
    assert not structured.startswith("{")
    for part in ("info", "poll_sweep", "paygate.poller", "checked=3", "changed=1", "token=***"):
        assert part in structured
    assert "Started server process [42]" in plain and "uvicorn.error" in plain
    assert TOKEN not in coloured


def test_a_pipe_or_file_gets_json_lines() -> None:
    text = _configured(Settings(kaspi_access_token=TOKEN), io.StringIO())

    assert [json.loads(line)["event"] for line in text.splitlines()] == ["poll_sweep", "Started server process [42]"]


@pytest.mark.parametrize(
    ("log_format", "stream"), [("json", _Terminal), ("console", io.StringIO)], ids=["json-at-a-terminal", "console-to-a-pipe"]
)
def test_log_format_overrides_what_the_stream_suggests(log_format: str, stream: type[io.StringIO]) -> None:
    text = _configured(Settings.from_env({"LOG_FORMAT": log_format}), stream())

    assert text.startswith("{") == (log_format == "json")
    assert "\x1b[" not in text  # colours only for a terminal, and never inside JSON


def test_log_format_is_console_json_or_unset() -> None:
    assert Settings.from_env({}).log_format is None
    assert Settings.from_env({"LOG_FORMAT": " Console "}).log_format == "console"
    with pytest.raises(SettingsError, match="LOG_FORMAT must be one of console, json, not 'pretty'"):
        Settings.from_env({"LOG_FORMAT": "pretty"})
