"""CSV the console exports: every cell a spreadsheet would run as a formula is defused."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# What Excel, LibreOffice and Google Sheets start a formula with (tab and CR as OWASP lists them too).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A leading apostrophe makes the spreadsheet show the text as it is rather than evaluate it.
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue()
