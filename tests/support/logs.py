"""Capturing the process's JSON log lines as production writes them (the real handler and formatter)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.redaction import SecretRedactingFilter

from config.logging_setup import log_handler


class JsonLogs:
    """What the production handler wrote during a test, as text and as parsed events."""

    def __init__(self, stream: io.StringIO, redactor: SecretRedactingFilter) -> None:
        self._stream = stream
        self.redactor = redactor

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def events(self, event: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """Every line parsed (each must be one JSON object), optionally those of one event and fields."""
        parsed = [json.loads(line) for line in self.text.splitlines() if line.strip()]
        return [
            e for e in parsed
            if (event is None or e.get("event") == event) and all(e.get(k) == v for k, v in fields.items())
        ]


@pytest.fixture
def json_logs() -> Iterator[JsonLogs]:
    """The production handler on the root logger at INFO for one test; secrets via `json_logs.redactor.add`."""
    stream = io.StringIO()
    redactor = SecretRedactingFilter()
    handler = log_handler(redactor, stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield JsonLogs(stream, redactor)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
