"""Typed access from a route to the use cases: `use_cases(request).create_payment` is a
`CreatePayment`, so a reader and mypy follow a request into the core. The container (the one
composition root) still builds each use case; this bundle only names and types them."""

from __future__ import annotations

import attrs
from starlette.requests import Request

from application.cancel_payment import CancelPayment
from application.capture_payment import CapturePayment
from application.create_payment import CreatePayment
from application.get_payment import GetPayment
from application.implicit_idempotency import ImplicitIdempotencyKeys
from application.list_payments import ListPayments
from application.refund_payment import RefundPayment
from config.container import Container


@attrs.frozen
class UseCases:
    container: Container

    @property
    def create_payment(self) -> CreatePayment:
        return self.container.create_payment()

    @property
    def get_payment(self) -> GetPayment:
        return self.container.get_payment()

    @property
    def list_payments(self) -> ListPayments:
        return self.container.list_payments()

    @property
    def refund_payment(self) -> RefundPayment:
        return self.container.refund_payment()

    @property
    def capture_payment(self) -> CapturePayment:
        return self.container.capture_payment()

    @property
    def cancel_payment(self) -> CancelPayment:
        return self.container.cancel_payment()

    @property
    def implicit_idempotency_keys(self) -> ImplicitIdempotencyKeys:
        return self.container.implicit_idempotency_keys()


def use_cases(request: Request) -> UseCases:
    """The bundle `create_app` put on the application."""
    bundle: UseCases = request.app.state.use_cases
    return bundle
