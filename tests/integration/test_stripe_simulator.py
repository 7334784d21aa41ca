"""The Stripe simulator speaks Stripe's wire protocol (checked with raw HTTP) and sends signed events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.servers import serve
from tests.support.stripe_simulator import StripeSimulatorServer, run_stripe_simulator

pytestmark = pytest.mark.anyio

ACCOUNT = "acct_1SimulatorSeller"


@pytest.fixture
def simulator() -> Iterator[StripeSimulatorServer]:
    with run_stripe_simulator() as running:
        yield running


@pytest.fixture
async def stripe_api(anyio_backend: str, simulator: StripeSimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {simulator.secret_key}", "Stripe-Account": ACCOUNT}
    async with httpx.AsyncClient(base_url=simulator.base_url, headers=headers, timeout=5.0) as client:
        yield client


async def create(client: httpx.AsyncClient, body: str, key: str | None = None, **headers: str) -> httpx.Response:
    """A POST as Stripe's SDKs send it: a form body, an optional idempotency key."""
    if key is not None:
        headers["Idempotency-Key"] = key
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return await client.post("/v1/payment_intents", content=body, headers=headers)


async def test_a_payment_intent_is_created_from_a_form_and_answered_as_json(stripe_api: httpx.AsyncClient) -> None:
    response = await create(
        stripe_api, "amount=1999&currency=eur&metadata[order]=A-1&automatic_payment_methods[enabled]=true"
    )

    assert response.status_code == 200, response.text
    intent = response.json()
    assert (intent["object"], intent["amount"], intent["currency"], intent["status"]) == (
        "payment_intent",
        1999,
        "eur",
        "requires_payment_method",
    )
    assert intent["metadata"] == {"order": "A-1"}
    assert intent["automatic_payment_methods"]["enabled"] is True
    assert response.headers["request-id"].startswith("req_")


async def test_an_answer_is_indented_json_that_keeps_non_ascii_text(stripe_api: httpx.AsyncClient) -> None:
    response = await create(stripe_api, "amount=500&currency=eur&description=%D0%97%D0%B0%D0%BA%D0%B0%D0%B7+%E2%84%967")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.text.startswith('{\n  "')
    assert response.json()["description"] == "Заказ №7"


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ("currency=usd", "parameter_missing", "amount"),
        ("amount=12.50&currency=usd", "parameter_invalid_integer", "amount"),
        ("amount=100&currency=usd&confirm=true", "parameter_unknown", "confirm"),
        ("amount=100&currency=usd&capture_method=later", "parameter_invalid", "capture_method"),
    ],
)
async def test_bad_parameters_get_stripe_s_error_shape(
    stripe_api: httpx.AsyncClient, body: str, code: str, param: str
) -> None:
    response = await create(stripe_api, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)


async def test_a_refused_request_does_not_spend_its_idempotency_key(stripe_api: httpx.AsyncClient) -> None:
    refused = await create(stripe_api, "amount=100&currency=usd&colour=red", key="key-1")
    accepted = await create(stripe_api, "amount=100&currency=usd", key="key-1")

    assert (refused.status_code, accepted.status_code) == (400, 200)


async def test_the_same_key_replays_the_first_answer_and_refuses_other_parameters(
    stripe_api: httpx.AsyncClient, simulator: StripeSimulatorServer
) -> None:
    first = await create(stripe_api, "amount=100&currency=usd", key="key-2")
    replay = await create(stripe_api, "amount=100&currency=usd", key="key-2")
    other = await create(stripe_api, "amount=200&currency=usd", key="key-2")

    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    assert len(simulator.state.intents()) == 1


async def test_keys_belong_to_one_account(stripe_api: httpx.AsyncClient, simulator: StripeSimulatorServer) -> None:
    mine = await create(stripe_api, "amount=100&currency=usd", key="key-3")
    theirs = await create(stripe_api, "amount=100&currency=usd", key="key-3", **{"Stripe-Account": "acct_1Other"})

    assert mine.json()["id"] != theirs.json()["id"]
    assert {i.account for i in simulator.state.intents()} == {ACCOUNT, "acct_1Other"}


async def test_a_key_still_in_use_is_refused_with_409(
    stripe_api: httpx.AsyncClient, simulator: StripeSimulatorServer
) -> None:
    simulator.state.set_knobs(latency_ms=500)
    answers: dict[str, httpx.Response] = {}

    async def send(name: str) -> None:
        answers[name] = await create(stripe_api, "amount=100&currency=usd", key="key-4")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(send, "first")
        # The second goes once the first holds the key (the simulator saw it), not after a guessed delay.
        with anyio.fail_after(5):
            while not simulator.state.requests:
                await anyio.sleep(0.01)
        tasks.start_soon(send, "second")

    assert answers["first"].status_code == 200
    assert answers["second"].status_code == 409
    assert answers["second"].json()["error"]["code"] == "idempotency_key_in_use"


async def test_a_wrong_key_is_refused_without_echoing_it(stripe_api: httpx.AsyncClient) -> None:
    wrong = "sk_test_0123456789abcdefWRONG"
    response = await create(stripe_api, "amount=100&currency=usd", Authorization=f"Bearer {wrong}")

    assert response.status_code == 401
    assert wrong not in response.text


async def test_a_signed_event_reaches_the_configured_endpoint(simulator: StripeSimulatorServer) -> None:
    received: list[tuple[bytes, str]] = []

    async def endpoint(request: Request) -> Response:
        received.append((await request.body(), request.headers.get("stripe-signature", "")))
        return Response("{}", 200)

    with serve(Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])) as hook:
        simulator.state.webhook_url = f"{hook}/hook"
        simulator.state.webhook_secret = "whsec_simulator_test"
        intent = simulator.state.create_intent(
            account=ACCOUNT,
            amount=100,
            currency="usd",
            capture_method="automatic",
            description=None,
            metadata={},
            automatic_payment_methods=True,
        )
        async with httpx.AsyncClient(base_url=simulator.base_url, timeout=5.0) as control:
            response = await control.post(f"/control/payment_intents/{intent['id']}/pay", json={"notify": True})

    assert response.status_code == 200, response.text
    assert [d["status_code"] for d in response.json()["deliveries"]] == [200]
    [(body, signature)] = received
    assert b'"payment_intent.succeeded"' in body and signature.startswith("t=") and ",v1=" in signature


async def create_refund(client: httpx.AsyncClient, body: str) -> httpx.Response:
    return await client.post(
        "/v1/refunds", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )


async def paid_intent(client: httpx.AsyncClient, simulator: StripeSimulatorServer) -> str:
    created = await create(client, "amount=5000&currency=usd")
    intent_id: str = created.json()["id"]
    simulator.state.pay(intent_id)
    return intent_id


async def test_a_refund_has_a_failure_reason_only_once_it_failed(
    stripe_api: httpx.AsyncClient, simulator: StripeSimulatorServer
) -> None:
    intent_id = await paid_intent(stripe_api, simulator)
    simulator.state.set_knobs(refund_status="pending")

    refund = (
        await create_refund(stripe_api, f"payment_intent={intent_id}&amount=1000&metadata[paygate_refund_id]=re_1")
    ).json()
    events = simulator.state.settle_refund(refund["id"], succeed=False)
    listed = (await stripe_api.get("/v1/refunds", params={"payment_intent": intent_id})).json()

    assert refund["status"] == "pending" and "failure_reason" not in refund
    assert [e.type for e in events] == ["refund.updated", "refund.failed"]
    [failed] = listed["data"]
    assert (failed["id"], failed["status"], failed["failure_reason"]) == (refund["id"], "failed", "declined")
    assert (listed["object"], listed["has_more"], failed["metadata"]) == ("list", False, {"paygate_refund_id": "re_1"})
    intent = simulator.state.intent(intent_id)
    assert intent is not None and intent.refunded == 0


async def test_charge_refunded_carries_a_whole_charge(stripe_api: httpx.AsyncClient, simulator: StripeSimulatorServer) -> None:
    intent_id = await paid_intent(stripe_api, simulator)

    assert (await create_refund(stripe_api, f"payment_intent={intent_id}&amount=1000")).status_code == 200

    [charge] = [e.object for e in simulator.state.events if e.type == "charge.refunded"]
    # Every field stripe-python's Charge declares without a default (its OpenAPI spec's required ones).
    declared = {
        "id", "object", "amount", "amount_captured", "amount_refunded", "application", "application_fee",
        "application_fee_amount", "balance_transaction", "billing_details", "calculated_statement_descriptor",
        "captured", "created", "currency", "customer", "description", "disputed", "failure_balance_transaction",
        "failure_code", "failure_message", "fraud_details", "livemode", "metadata", "on_behalf_of", "outcome", "paid",
        "payment_intent", "payment_method", "payment_method_details", "receipt_email", "receipt_number", "receipt_url",
        "refunded", "review", "shipping", "source_transfer", "statement_descriptor", "statement_descriptor_suffix",
        "status", "transfer_data", "transfer_group",
    }
    assert declared <= set(charge)
    assert (charge["object"], charge["amount_refunded"], charge["refunded"]) == ("charge", 1000, False)
