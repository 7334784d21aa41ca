"""Safe by default, over real HTTP: a gateway with no Kaspi setting has no Kaspi simulator, refuses
Kaspi payments with 422 and is not ready while sellers' routes need Kaspi; every simulator is
named by a setting, and every process says at start-up what is live, simulated or off."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attrs
import httpx
import pytest

from config.settings import SIMULATOR

from tests.support.gateways import gateway_settings, issue_key, prepare, running_gateway
from tests.support.logs import JsonLogs

ROOT = Path(__file__).resolve().parents[2]
SHOP = 121038  # a demo seller with a Kaspi route
PHONE = "+7 701 521 15 45"


def provider_lines(logs: JsonLogs) -> dict[str, str]:
    return {e["provider"]: e["mode"] for e in logs.events() if e.get("logger") == "paygate.providers" and "mode" in e}


def test_without_a_kaspi_setting_kaspi_is_off_its_simulator_absent_and_the_gateway_not_ready(
    sqlite_url: str, json_logs: JsonLogs
) -> None:
    settings = gateway_settings(sqlite_url, kaspi_proxy_url=None)
    simulated = attrs.evolve(settings, kaspi_proxy_url=SIMULATOR)
    prepare(simulated)  # the demo sellers: active Kaspi routes
    key = issue_key(settings, ["payments", "admin"])
    with running_gateway(simulated) as gateway, httpx.Client(base_url=gateway.base_url, headers=key.header) as http:
        paid = http.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 100, "phone": PHONE}).json()
        assert http.post(f"/sandbox/kaspi/payments/{paid['external_id']}/approve").status_code == 200
        assert http.get(f"/payments/kaspi/status/{paid['external_id']}").json()["status"] == "Processed"

    earlier = len(json_logs.events())
    with running_gateway(settings) as gateway, httpx.Client(base_url=gateway.base_url, headers=key.header) as http:
        approve = http.post("/sandbox/kaspi/payments/1/approve")
        proxy = http.get("/sandbox/kaspi/api/v2/paymentkaspi/status/", params={"externalId": "1"})
        answers = [
            http.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 100, "phone": PHONE}),
            http.post("/payments/kaspi/create-link", json={"shop_id": SHOP, "amount": 100}),
            http.post("/payments/kaspi/refund", json={"shop_id": SHOP, "external_id": paid["external_id"], "amount": 1}),
            http.post(
                "/v1/payments",
                json={"shop_id": SHOP, "provider": "kaspi", "amount": 100, "currency": "KZT", "phone": PHONE},
            ),
        ]
        health = http.get("/health")
        ready = http.get("/ready")
        listed = http.get("/v1/payments", params={"customer_id": "nobody"})

    assert (approve.status_code, proxy.status_code) == (404, 404)
    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(422, "provider_not_configured")] * 4
    assert listed.status_code == 200
    assert health.status_code == 200
    assert health.json()["providers"] == {
        "kaspi": "off", "stripe": "off", "yookassa": "off", "cloudpayments": "off", "sandbox": "off",
    }
    assert ready.status_code == 503
    reason = ready.json()["services"]["routed_providers"]
    assert reason["status"] == "down" and "kaspi" in reason["reason"] and "PRODUCTION_API_URL" in reason["reason"]
    said = [e for e in json_logs.events()[earlier:] if e.get("logger") == "paygate.providers"]
    assert {e["provider"]: e["mode"] for e in said if "mode" in e}["kaspi"] == "off"
    errors = [e["reason"] for e in said if e["level"] == "error" and e["event"] == "provider_missing"]
    assert any("kaspi" in e and "PRODUCTION_API_URL" in e for e in errors), errors
    assert not [e for e in said if e["level"] == "warning"]  # no simulator on


def test_simulators_named_by_their_settings_are_served_announced_with_a_warning_and_ready(
    sqlite_url: str, json_logs: JsonLogs
) -> None:
    settings = gateway_settings(sqlite_url, kaspi_proxy_url=SIMULATOR, sandbox_enabled=True)
    prepare(settings)
    key = issue_key(settings, ["payments"])

    with running_gateway(settings) as gateway, httpx.Client(base_url=gateway.base_url, headers=key.header) as http:
        created = http.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 100, "phone": PHONE})
        approve = http.post(f"/sandbox/kaspi/payments/{created.json()['external_id']}/approve")
        health = http.get("/health").json()
        ready = http.get("/ready")

    assert (created.status_code, approve.status_code, ready.status_code) == (200, 200, 200)
    assert health["providers"]["kaspi"] == health["providers"]["sandbox"] == "simulator"
    assert provider_lines(json_logs) == {
        "kaspi": "simulator", "stripe": "off", "yookassa": "off", "cloudpayments": "off", "sandbox": "simulator",
    }
    [warning] = [e for e in json_logs.events() if e.get("logger") == "paygate.providers" and e["level"] == "warning"]
    assert (warning["event"], warning["providers"]) == ("simulators_on", "kaspi, sandbox")


def test_a_live_provider_is_logged_with_its_host_and_health_never_shows_it(
    sqlite_url: str, json_logs: JsonLogs
) -> None:
    proxy = "https://proxy.cvety.example:8443/api/v2/paymentkaspi"
    settings = gateway_settings(sqlite_url, kaspi_proxy_url=proxy, kaspi_access_token="live-token")
    prepare(settings)

    with running_gateway(settings) as gateway:
        health = httpx.get(f"{gateway.base_url}/health")
        simulator = httpx.post(f"{gateway.base_url}/sandbox/kaspi/payments/1/approve")

    assert health.json()["providers"]["kaspi"] == "live"
    assert "proxy.cvety.example" not in health.text
    assert simulator.status_code == 404
    [line] = [e for e in json_logs.events() if e.get("logger") == "paygate.providers" and e.get("provider") == "kaspi"]
    assert (line["event"], line["mode"], line["detail"]) == ("provider_mode", "live", "live proxy.cvety.example:8443")


@pytest.mark.parametrize("command", [["poll", "--once"], ["dispatch", "--once"]])
def test_the_poller_and_the_dispatcher_announce_their_providers_too(sqlite_url: str, command: list[str]) -> None:
    environment = {"PATH": "/usr/bin:/bin", "DATABASE_URL": sqlite_url, "PRODUCTION_API_URL": "simulator"}
    finished = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", *command],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=False,
    )

    assert finished.returncode == 0, finished.stderr
    events = [json.loads(line) for line in finished.stderr.splitlines() if line.startswith("{")]
    modes = {e["provider"]: e["mode"] for e in events if e["event"] == "provider_mode"}
    assert (modes["kaspi"], modes["sandbox"]) == ("simulator", "off")
    assert [e["providers"] for e in events if e["event"] == "simulators_on"] == ["kaspi"]
