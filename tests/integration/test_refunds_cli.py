"""`paygate refunds attach`: an operator records a Kaspi refund whose answer was lost, as the cabinet shows it."""

from __future__ import annotations

import json

import pytest

from domain.money import Money
from domain.payment import PaymentMethod

from application.errors import ProviderOutcomeUnknown
from application.payment_requests import CreatePaymentCommand
from application.refund_payment import RefundCommand

from entrypoints import cli

from config.container import Container
from config.settings import Settings

from tests.support.gateways import with_container
from tests.support.servers import KaspiSimulatorServer

SHOP = 121038


def lost_refund(settings: Settings, kaspi_simulator: KaspiSimulatorServer) -> str:
    """A paid Kaspi payment whose refund answer never came back: its refund id."""

    async def create(container: Container) -> str:
        payment = await container.create_payment().execute(
            CreatePaymentCommand(
                shop_id=SHOP, provider="kaspi", method=PaymentMethod.REMOTE, amount=Money(500000, "KZT"),
                phone="77015211545",
            )
        )
        assert payment.external_id is not None
        kaspi_simulator.state.approve(payment.external_id)
        await container.get_payment().by_id(payment.id)  # the gateway learns it was paid
        kaspi_simulator.state.set_knobs(fault="http_502", fault_count=1, fault_operations=["refund"])
        with pytest.raises(ProviderOutcomeUnknown) as unknown:
            await container.refund_payment().execute(
                RefundCommand(shop_id=SHOP, provider="kaspi", payment_id=payment.id, amount=Money(200000, "KZT"))
            )
        return unknown.value.reference

    return with_container(settings, create)


@pytest.mark.parametrize(("flag", "status", "refunded"), [("--succeeded", "succeeded", 200000), ("--failed", "failed", 0)])
def test_an_operator_attaches_what_the_merchant_cabinet_shows(
    environment: Settings, kaspi_simulator: KaspiSimulatorServer, capsys: pytest.CaptureFixture[str],
    flag: str, status: str, refunded: int,
) -> None:
    refund_id = lost_refund(environment, kaspi_simulator)

    assert cli.main(["refunds", "attach", refund_id, flag]) == 1  # without --yes: shown, not done
    shown = json.loads(capsys.readouterr().out)
    assert (shown["id"], shown["status"]) == (refund_id, "pending")

    assert cli.main(["refunds", "attach", refund_id, flag, "--yes"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["status"], done["status_source"], done["payment"]["refunds"]["refunded"]) == (status, "operator:cli", refunded)

    assert cli.main(["refunds", "attach", refund_id, "--succeeded", "--yes"]) == 2
    assert f"refund {refund_id} cannot be attached: it is {status} already" in capsys.readouterr().err


def test_an_unknown_refund_cannot_be_attached(environment: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["refunds", "attach", "re_nosuch", "--failed", "--yes"]) == 2
    assert "re_nosuch" in capsys.readouterr().err
