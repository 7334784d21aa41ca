"""Steps of features/refunds.feature (shared steps live in conftest.py)."""

from __future__ import annotations

from typing import Any

from pytest_bdd import parsers, scenarios, then

scenarios("refunds.feature")


@then(parsers.parse("the refund succeeds for {amount:d} tenge to organisation {organization_bin}"))
def refund_succeeds(story: dict[str, Any], amount: int, organization_bin: str) -> None:
    response = story["response"]
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "external_id": story["external_id"],
        "refunded_amount": amount,
        "organization_bin": organization_bin,
    }
