"""Steps of features/poller.feature."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, scenarios, then

from tests.acceptance.client import GatewayClient
from tests.acceptance.crm import CrmReceiver

scenarios("poller.feature")

SHOP = 121038


def _latest(gateway: GatewayClient, story: dict[str, Any], operation: str) -> dict[str, Any]:
    entries = gateway.logs(SHOP, limit=20).json()
    return next(e for e in entries if e["external_id"] == story["external_id"] and e["operation_type"] == operation)


@given("Kaspi does not answer the next status question")
def kaspi_silent(gateway: GatewayClient) -> None:
    knobs = {"fault": "timeout", "fault_count": 1, "fault_operations": ["status"]}
    assert gateway.sandbox.post("/knobs", json=knobs).status_code == 200


@then("Paygate knows the payment is paid without anyone asking")
def paid_by_polling(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert story["round"]["poll"]["changed"] == 1
    change = _latest(gateway, story, "status_change")
    assert (change["status"], change["actor"]) == ("success", "poller")
    # Nobody asked through the API: the status answered now is what the poller stored.
    assert gateway.status(story["external_id"]).json()["status"] == "Processed"


@then("the payment has expired in Paygate")
def expired(gateway: GatewayClient, crm: CrmReceiver, story: dict[str, Any]) -> None:
    assert story["round"]["poll"]["expired"] == 1
    [notification] = crm.of_payment(story["external_id"])
    assert notification["data"]["payment"]["status"] == "expired"
    assert _latest(gateway, story, "status_change")["actor"] == "poller"


@then("the payment is still waiting and the unanswered question is in the audit log")
def still_waiting(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert story["round"]["poll"] == {"checked": 1, "changed": 0, "expired": 0, "errors": 1}
    question = _latest(gateway, story, "status")
    assert (question["status"], question["actor"]) == ("error", "poller")
    assert "no answer" in question["error_message"]
