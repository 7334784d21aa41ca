"""Steps of features/audit.feature."""

from __future__ import annotations

from pytest_bdd import parsers, scenarios, then

from tests.acceptance.client import GatewayClient

scenarios("audit.feature")


@then(parsers.parse("the audit log of shop {shop:d} lists, newest first:"))
def audit_lists(gateway: GatewayClient, shop: int, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    assert header == ["operation", "status"]
    entries = gateway.logs(shop, limit=len(rows)).json()
    assert [[e["operation_type"], e["status"]] for e in entries] == rows
