"""Steps of features/webhooks.feature."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pytest_bdd import scenarios, then, when

from tests.acceptance.client import GatewayClient
from tests.acceptance.crm import CrmReceiver

scenarios("webhooks.feature")


@then("the CRM has received each event only once")
def once_per_event(crm: CrmReceiver, story: dict[str, Any]) -> None:
    told = crm.of_payment(story["external_id"])
    assert told and Counter(n["id"] for n in told).most_common(1)[0][1] == 1


@then("the operator sees two attempts at the notification, the first one failed")
def two_attempts(gateway: GatewayClient, crm: CrmReceiver, story: dict[str, Any]) -> None:
    [notification] = crm.of_payment(story["external_id"])
    response = gateway.webhook_deliveries(event_id=notification["id"])
    assert response.status_code == 200, response.text
    [delivery] = response.json()["deliveries"]
    assert delivery["status"] == "delivered"
    assert [a["succeeded"] for a in delivery["attempt_log"]] == [False, True]
    assert delivery["attempt_log"][0]["error"] == "ConnectError"
    story["delivery"] = delivery


@when("the operator sends the notification again")
def redeliver(gateway: GatewayClient, story: dict[str, Any]) -> None:
    response = gateway.redeliver(story["delivery"]["id"])
    assert response.status_code == 200, response.text


@then("the CRM has received the same event twice, under the same id")
def same_event_twice(crm: CrmReceiver, story: dict[str, Any]) -> None:
    told = crm.of_payment(story["external_id"])
    assert [n["id"] for n in told] == [story["delivery"]["event_id"]] * 2
    assert crm.forged == 0
