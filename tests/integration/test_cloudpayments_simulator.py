"""The CloudPayments simulator reads and writes amounts as exact JSON numbers (checked with raw HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import httpx
import msgspec
import pytest

from tests.support.cloudpayments import CloudPaymentsSimulatorServer, run_cloudpayments_simulator

pytestmark = pytest.mark.anyio

REFUSED_AMOUNT = "Amount must be a positive number with at most two decimals"


@pytest.fixture
def simulator() -> Iterator[CloudPaymentsSimulatorServer]:
    with run_cloudpayments_simulator() as running:
        yield running


@pytest.fixture
async def api(anyio_backend: str, simulator: CloudPaymentsSimulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    auth = httpx.BasicAuth(simulator.public_id, simulator.api_secret)
    async with httpx.AsyncClient(base_url=simulator.base_url, auth=auth, timeout=5.0) as client:
        yield client


async def create_order(api: httpx.AsyncClient, amount: str) -> httpx.Response:
    """orders/create with `amount` spliced into the body as written, so the exact JSON text is sent."""
    body = '{"Amount": ' + amount + ', "Currency": "RUB", "Description": "Заказ №7", "InvoiceId": "inv-7"}'
    return await api.post("/orders/create", content=body.encode(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("sent", "written"),
    [("1500.50", b'"Amount":1500.50'), ("0.01", b'"Amount":0.01'), ("100", b'"Amount":100')],
)
async def test_an_order_s_amount_is_answered_as_the_json_number_sent(
    api: httpx.AsyncClient, sent: str, written: bytes
) -> None:
    response = await create_order(api, sent)

    assert response.status_code == 200
    assert written in response.content
    answer = msgspec.json.Decoder(float_hook=Decimal).decode(response.content)
    assert answer["Success"] is True, answer
    assert answer["Model"]["Amount"] == Decimal(sent)
    assert answer["Model"]["Description"] == "Заказ №7"


@pytest.mark.parametrize("sent", ["1500.505", "1E-3", '"1500.50"', "0", "-1", "true", "null"])
async def test_an_amount_that_is_not_a_positive_number_of_kopecks_is_refused(api: httpx.AsyncClient, sent: str) -> None:
    response = await create_order(api, sent)

    assert response.status_code == 200
    assert response.json() == {"Model": None, "Success": False, "Message": REFUSED_AMOUNT}


@pytest.mark.parametrize("sent", ["NaN", "Infinity", "1500.50}"])
async def test_a_body_that_is_not_json_is_refused(api: httpx.AsyncClient, sent: str) -> None:
    response = await create_order(api, sent)

    assert response.status_code == 400
    assert response.json()["Success"] is False
