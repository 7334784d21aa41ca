"""`paygate routes import FILE`: seller routes from a CSV or JSON file.

Every row is checked on its own: a bad one is reported with its line (CSV) or item (JSON) and the
field at fault, and the good ones are imported. Re-running a file changes nothing twice.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import msgspec

from domain.errors import DomainError
from domain.identifiers import check_shop_id
from domain.seller_route import KASPI, check_merchant_account

from application.errors import ApplicationError, ProviderNotConfigured
from application.manage_routes import ManageRoutes, PutOutcome, RouteSpec

FORMAT = """\
The file is CSV (any name) or JSON (a name ending in .json).

CSV: a header line, then one seller per line; lines starting with # are comments.

  shop_id,organization_bin,device_token,is_active,provider
  121038,920317450731,,true,kaspi
  8,891027350515,5b1f0a2e-6c1d-4c8e-9a3b-000008000001

  shop_id           required; the marketplace's seller id (digits)
  organization_bin  required; the seller's merchant account: for Kaspi the 12-digit BIN
                    (its check digit is verified)
  device_token      optional; the seller's Kaspi device token. Empty: none is sent to the
                    proxy (it uses its own device), and a token stored earlier is kept
  is_active         optional; true (default) or false (also 1/0, yes/no)
  provider          optional; kaspi (default)
  Other columns (such as name) are ignored.

JSON: a list of objects with the same fields, e.g.
  [{"shop_id": 8, "organization_bin": "891027350515", "is_active": true}]

Each bad row is reported with its line (CSV) or item (JSON) and field; the other rows are
imported. The summary says how many routes were added, updated, unchanged and refused; the
exit status is 1 when any row was refused."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ImportFileError(ValueError):
    """The file as a whole cannot be read (missing, not JSON, no header)."""


@attrs.frozen
class RowError:
    where: str  # "line 4" or "item 2"
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}" if self.field else f"{self.where}: {self.message}"


class _Refused(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@attrs.frozen
class ImportRow:
    where: str
    spec: RouteSpec


@attrs.define
class ImportReport:
    counts: dict[PutOutcome, int] = attrs.field(factory=lambda: {outcome: 0 for outcome in PutOutcome})
    errors: list[RowError] = attrs.field(factory=list)

    def summary(self) -> str:
        counts = ", ".join(f"{self.counts[outcome]} {outcome.value}" for outcome in PutOutcome)
        return f"routes: {counts}, {len(self.errors)} refused"


def _rows(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ImportFileError(f"{path}: {error.strerror or 'cannot be read'}") from None
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: not UTF-8 text") from None
    if path.suffix.lower() == ".json":
        try:
            items = msgspec.json.decode(text)
        except msgspec.DecodeError as error:
            raise ImportFileError(f"{path}: not JSON ({error})") from None
        if not isinstance(items, list):
            raise ImportFileError(f"{path}: a JSON import is a list of objects")
        for number, item in enumerate(items, start=1):
            yield f"item {number}", item if isinstance(item, dict) else {"": item}
        return
    kept = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if not line.startswith("#")]
    reader = csv.DictReader(line for _number, line in kept)
    missing = {"shop_id", "organization_bin"} - set(reader.fieldnames or ())
    if missing:
        raise ImportFileError(f"{path}: the header must name {', '.join(sorted(missing))} (see --help)")
    for row in reader:
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # a blank line
        yield f"line {kept[reader.line_num - 1][0]}", row


def _text(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refused(name, f"{name} must be text")
    return value.strip() or None


def _spec(row: Mapping[str, Any]) -> RouteSpec:
    if "" in row:
        raise _Refused("", "each item must be an object")
    shop = row.get("shop_id")
    if isinstance(shop, str) and shop.strip().isascii() and shop.strip().isdigit():
        shop = int(shop.strip())
    if type(shop) is not int:
        raise _Refused("shop_id", "shop_id must be a positive whole number")
    provider = _text(row, "provider") or KASPI
    account = _text(row, "organization_bin")
    if account is None:
        raise _Refused("organization_bin", "organization_bin is required")
    token = _text(row, "device_token")
    active = row.get("is_active", True)
    if isinstance(active, str):
        word = active.strip().lower()
        if word not in _TRUE | _FALSE | {""}:
            raise _Refused("is_active", "is_active must be true or false")
        active = word not in _FALSE
    if not isinstance(active, bool):
        raise _Refused("is_active", "is_active must be true or false")
    try:
        check_shop_id(shop)
        check_merchant_account(provider, account)
    except DomainError as refusal:
        raise _Refused(_column(refusal) or "", str(refusal)) from None
    return RouteSpec(
        shop_id=shop,
        provider=provider,
        merchant_account=account,
        credentials={"device_token": token} if token else {},
        is_active=active,
    )


# The file's column for a field named by a refusal.
_COLUMNS = {"merchant_account": "organization_bin", "credentials.device_token": "device_token"}


def _column(refusal: Exception) -> str | None:
    if isinstance(refusal, ProviderNotConfigured):
        return "provider"
    field = getattr(refusal, "field", None)
    return _COLUMNS.get(field, field) if isinstance(field, str) else None


def read_routes(path: Path) -> tuple[list[ImportRow], list[RowError]]:
    """The file's good rows, and what is wrong with each other one."""
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    for where, row in _rows(path):
        try:
            rows.append(ImportRow(where, _spec(row)))
        except _Refused as refused:
            errors.append(RowError(where, refused.field or None, refused.message))
    return rows, errors


async def import_routes(manage: ManageRoutes, path: Path, *, actor: str) -> ImportReport:
    rows, errors = read_routes(path)
    report = ImportReport(errors=errors)
    for row in rows:
        try:
            _route, outcome = await manage.put_reporting(row.spec, actor=actor)
        except (DomainError, ApplicationError) as refusal:
            report.errors.append(RowError(row.where, _column(refusal), str(refusal)))
            continue
        report.counts[outcome] += 1
    report.errors.sort(key=lambda error: int(error.where.split()[1]))
    return report
