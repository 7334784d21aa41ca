"""A local CloudPayments: its JSON API over in-memory sites, orders and transactions, an order page for the
customer, test controls, fault knobs, and signed notifications to the merchant's URL.

API (Basic auth `PublicId:ApiSecret`; a repeated `X-Request-ID` gets the first answer again):
`POST /orders/create`, `/orders/cancel`, `/payments/find`, `/payments/refund`, `/payments/confirm`, `/payments/void`.
Customer: `GET /pay/{order_id}` (the payment link, an HTML page) and its form, `POST /pay/{order_id}`.
Controls: `POST /sites` (register a site: public id, API secret, notification URL and format),
`GET /orders[?invoice_id=]`, `GET /orders/{id}`, `POST /orders/{id}/pay|decline`, `GET|POST /knobs`,
`POST /reset`, `GET /requests`, `GET /notifications`.

A payment attempt sends Check, then Pay or Fail, to `{notification_url}/{kind}`, signed with the site's
API secret in `Content-HMAC` and `X-Content-HMAC`; a Check answered with anything but `{"code": 0}`
declines the attempt. Confirm, void and refund send Confirm, Cancel and Refund after they answer.

Faults: `http_500`, `http_502` answer before anything happens; `timeout` and `garbage` perform the
operation and then lose the answer (the dangerous case: the order exists, the caller does not know).
"""

from __future__ import annotations

import base64
import binascii
import functools
import html
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import attrs
import httpx
import msgspec
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from simulators.base import json_object, masked_headers, simulator_app, wait_or_disconnect
from simulators.cloudpayments import wire
from simulators.cloudpayments.state import (
    APPROVED,
    INSUFFICIENT_FUNDS,
    ORDER_OPEN,
    REJECTED_BY_MERCHANT,
    TEST_CARD_EXPIRY,
    Attempt,
    CloudPaymentsSimulatorState,
    Delivery,
    OrderClosed,
    RecordedRequest,
    SimulatedTransaction,
    Site,
    UnknownOrder,
)

_PATHS = {
    "/orders/create": "create",
    "/orders/cancel": "cancel_order",
    "/payments/find": "find",
    "/payments/refund": "refund",
    "/payments/confirm": "confirm",
    "/payments/void": "void",
}
_PATH_OF = {operation: path for path, operation in _PATHS.items()}
# A request body: a fraction is read as the exact Decimal it spells, never a float.
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


# --- The ASGI app ---------------------------------------------------------------------------------


def create_cloudpayments_simulator(*, state: CloudPaymentsSimulatorState | None = None) -> Starlette:
    """The simulator as a Starlette app; mount it anywhere (the gateway uses `/sandbox/cloudpayments`)."""
    endpoints = _Endpoints(state if state is not None else CloudPaymentsSimulatorState())
    return simulator_app(
        endpoints.state,
        [
            *(Route(path, functools.partial(endpoints.api, op), methods=["POST"]) for path, op in _PATHS.items()),
            Route("/pay/{order_id}", endpoints.order_page, methods=["GET"], name="order_page"),
            Route("/pay/{order_id}", endpoints.submit_order_page, methods=["POST"]),
            Route("/sites", endpoints.add_site, methods=["POST"]),
            Route("/orders", endpoints.list_orders, methods=["GET"]),
            Route("/orders/{order_id}", endpoints.show_order, methods=["GET"]),
            Route("/orders/{order_id}/{action}", endpoints.control_order, methods=["POST"]),
            Route("/notifications", endpoints.show_deliveries, methods=["GET"]),
        ],
        empty_knobs_body_allowed=False,
    )


class _Endpoints:
    def __init__(self, state: CloudPaymentsSimulatorState) -> None:
        self.state = state

    # --- The API ----------------------------------------------------------------------------------

    async def api(self, operation: str, request: Request) -> Response:
        raw = await request.body()
        headers = masked_headers(request, authorization="Basic ***")
        self.state.record(RecordedRequest(operation, _PATH_OF[operation], headers, raw))
        await wait_or_disconnect(request, self.state.knobs.latency_ms / 1000)
        public_id = _authenticated(request, self.state)
        if public_id is None:
            return Response(b"", 401, headers={"WWW-Authenticate": 'Basic realm="CloudPayments"'})
        request_id = request.headers.get(wire.REQUEST_ID_HEADER)
        if request_id:
            replay = self.state.reply_for(public_id, request_id)
            if replay is not None:
                return Response(replay[1], replay[0], media_type="application/json")
        fault = self.state.take_fault(operation)
        if fault in ("http_500", "http_502"):
            status = 500 if fault == "http_500" else 502
            return HTMLResponse(f"<html><body><h1>{status}</h1></body></html>", status)
        status, answer, after = self._perform(operation, raw, public_id, request)
        if request_id:
            self.state.keep_reply(public_id, request_id, (status, answer))
        background = BackgroundTask(self._notify_all, after) if after else None
        if fault == "timeout":
            # The operation happened; its answer never arrives (until the client gives up).
            await wait_or_disconnect(request, self.state.hang_seconds)
            return HTMLResponse("<html><body><h1>504 Gateway Time-out</h1></body></html>", 504, background=background)
        if fault == "garbage":
            return HTMLResponse("<html><body>Service Unavailable</body></html>", 200, background=background)
        return Response(answer, status, media_type="application/json", background=background)

    def _perform(
        self, operation: str, raw: bytes, public_id: str, request: Request
    ) -> tuple[int, bytes, list[tuple[str, str, dict[str, Any]]]]:
        """(HTTP status, body, notifications to send afterwards) of one API call."""
        try:
            body = _DECODER.decode(raw) if raw.strip() else {}
        except ValueError:
            return 400, _envelope(False, "The request body is not valid JSON"), []
        if not isinstance(body, dict):
            return 400, _envelope(False, "The request body must be a JSON object"), []
        if operation == "create":
            return self._create(body, public_id, request)
        if operation == "cancel_order":
            order_id = body.get("Id")
            if not isinstance(order_id, str) or not order_id:
                return 200, _envelope(False, "Id is required"), []
            refused = self.state.cancel_order(public_id, order_id)
            return 200, _envelope(refused is None, refused), []
        if operation == "find":
            invoice_id = body.get("InvoiceId")
            if not isinstance(invoice_id, str) or not invoice_id:
                return 200, _envelope(False, "InvoiceId is required"), []
            found = self.state.latest_for_invoice(public_id, invoice_id)
            if found is None:
                return 200, _envelope(False, "Not found"), []
            # A declined transaction comes back with Success=false, as CloudPayments answers declines.
            return 200, _envelope(found.status != wire.DECLINED, None, found.model()), []
        transaction_id = body.get("TransactionId")
        if type(transaction_id) is not int:
            return 200, _envelope(False, "TransactionId is required"), []
        if operation == "void":
            voided = self.state.void(public_id, transaction_id)
            if isinstance(voided, str):
                return 200, _envelope(False, voided), []
            return 200, _envelope(True, None), [(public_id, wire.CANCEL, _cancel_fields(voided))]
        money = _amount(body.get("Amount"))
        if money is None:
            return 200, _envelope(False, "Amount must be a positive number with at most two decimals"), []
        if operation == "confirm":
            confirmed = self.state.confirm(public_id, transaction_id, money)
            if isinstance(confirmed, str):
                return 200, _envelope(False, confirmed), []
            fields = _payment_fields(confirmed, status=wire.COMPLETED)
            return 200, _envelope(True, None), [(public_id, wire.CONFIRM, fields)]
        refunded = self.state.refund(public_id, transaction_id, money)
        if isinstance(refunded, str):
            return 200, _envelope(False, refunded), []
        paid = self.state.transaction(transaction_id)
        assert paid is not None
        return (
            200,
            _envelope(True, None, {"TransactionId": refunded}),
            [(public_id, wire.REFUND, _refund_fields(paid, refunded, money, self.state.now()))],
        )

    def _create(
        self, body: dict[str, Any], public_id: str, request: Request
    ) -> tuple[int, bytes, list[tuple[str, str, dict[str, Any]]]]:
        money = _amount(body.get("Amount"))
        if money is None:
            return 200, _envelope(False, "Amount must be a positive number with at most two decimals"), []
        currency = body.get("Currency", "RUB")
        if currency not in wire.CURRENCIES:
            return 200, _envelope(False, f"Currency {currency} is not supported"), []
        description = body.get("Description")
        if not isinstance(description, str) or not description.strip():
            return 200, _envelope(False, "Description is required"), []
        invoice_id = body.get("InvoiceId")
        account_id = body.get("AccountId")
        if not isinstance(invoice_id, str | None) or not isinstance(account_id, str | None):
            return 200, _envelope(False, "InvoiceId and AccountId are strings"), []
        order = self.state.create_order(
            public_id=public_id,
            amount=money,
            currency=currency,
            description=description,
            invoice_id=invoice_id,
            account_id=account_id,
            require_confirmation=body.get("RequireConfirmation") is True,
            page_url=lambda order_id: str(request.url_for("order_page", order_id=order_id)),
        )
        return 200, _envelope(True, None, order.model()), []

    # --- The customer's side ----------------------------------------------------------------------

    async def order_page(self, request: Request) -> Response:
        order = self.state.order(request.path_params["order_id"])
        if order is None:
            return HTMLResponse("<h1>No such order</h1>", 404)
        text = html.escape(f"{order.description}: {order.amount} {order.currency}")
        if order.status != ORDER_OPEN:
            return HTMLResponse(f"<h1>{text}</h1><p>This order is {html.escape(order.status)}.</p>")
        return HTMLResponse(
            f"<h1>{text}</h1>"
            '<form method="post"><button name="action" value="pay">Pay</button>'
            '<button name="action" value="decline">Decline (insufficient funds)</button></form>'
        )

    async def submit_order_page(self, request: Request) -> Response:
        action = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"))).get("action", "")
        try:
            attempt = await self._attempt(request.path_params["order_id"], approve=action == "pay")
        except UnknownOrder:
            return HTMLResponse("<h1>No such order</h1>", 404)
        except OrderClosed as closed:
            return HTMLResponse(f"<h1>{html.escape(str(closed))}</h1>", 409)
        status = attempt.transaction["Status"]
        return HTMLResponse(
            f"<h1>Payment {html.escape(str(status))}</h1><p>{html.escape(attempt.transaction['Reason'])}</p>"
        )

    async def _attempt(self, order_id: str, *, approve: bool) -> Attempt:
        """Check, then the bank's answer, then Pay or Fail: notifications go out as the customer waits."""
        transaction = self.state.begin_attempt(order_id)
        site = self.state.site(transaction.public_id)
        assert site is not None
        deliveries: list[Delivery] = []
        order = self.state.order(order_id)
        assert order is not None
        will_be = wire.AUTHORIZED if order.require_confirmation else wire.COMPLETED
        reason = APPROVED if approve else INSUFFICIENT_FUNDS
        if site.notification_url is not None:
            check = await self._notify(site, wire.CHECK, _payment_fields(transaction, status=will_be))
            deliveries.append(check)
            if check.code != wire.ACCEPTED:
                approve, reason = False, REJECTED_BY_MERCHANT
        finished = self.state.finish_attempt(transaction.transaction_id, approved=approve, reason=reason)
        if site.notification_url is not None:
            kind = wire.PAY if approve else wire.FAIL
            deliveries.append(await self._notify(site, kind, _payment_fields(finished, status=finished.status)))
        view = self.state.view(order_id)
        assert view is not None
        return Attempt(order=view, transaction=finished.view(), notifications=[d.as_json() for d in deliveries])

    async def _notify_all(self, pending: list[tuple[str, str, dict[str, Any]]]) -> None:
        for public_id, kind, fields in pending:
            site = self.state.site(public_id)
            if site is not None and site.notification_url is not None:
                await self._notify(site, kind, fields)

    async def _notify(self, site: Site, kind: str, fields: dict[str, Any]) -> Delivery:
        body, content_type = wire.encode_notification(fields, site.notification_format)
        signature = wire.sign(body, site.api_secret)
        url = f"{site.notification_url}/{kind}"
        invoice_id = fields.get("InvoiceId")
        try:
            async with httpx.AsyncClient(timeout=self.state.notification_timeout, trust_env=False) as client:
                response = await client.post(
                    url,
                    content=body,
                    headers={"Content-Type": content_type, "Content-HMAC": signature, "X-Content-HMAC": signature},
                )
        except httpx.HTTPError as error:
            delivery = Delivery(kind, url, invoice_id, None, None, type(error).__name__)
        else:
            delivery = Delivery(kind, url, invoice_id, response.status_code, _answer_code(response))
        self.state.record_delivery(delivery)
        return delivery

    # --- Controls ---------------------------------------------------------------------------------

    async def add_site(self, request: Request) -> Response:
        changes = await json_object(request, empty_allowed=False)
        unknown = set(changes) - {"public_id", "api_secret", "notification_url", "notification_format"}
        if unknown:
            return JSONResponse({"error": f"unknown fields: {', '.join(sorted(unknown))}"}, 400)
        try:
            site = self.state.add_site(
                str(changes.get("public_id") or ""),
                str(changes.get("api_secret") or ""),
                notification_url=changes.get("notification_url"),
                notification_format=changes.get("notification_format") or wire.FORM,
            )
        except (ValueError, TypeError, AttributeError) as refusal:
            return JSONResponse({"error": str(refusal)}, 400)
        return JSONResponse(site.view(), 201)

    async def list_orders(self, request: Request) -> Response:
        orders = self.state.orders(invoice_id=request.query_params.get("invoice_id"))
        return _json({"orders": [self.state.view(o.order_id) for o in orders]})

    async def show_order(self, request: Request) -> Response:
        view = self.state.view(request.path_params["order_id"])
        return _json(view) if view is not None else JSONResponse({"error": "no such order"}, 404)

    async def control_order(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ("pay", "decline"):
            return JSONResponse({"error": "actions are pay, decline"}, 404)
        try:
            attempt = await self._attempt(request.path_params["order_id"], approve=action == "pay")
        except UnknownOrder:
            return JSONResponse({"error": "no such order"}, 404)
        except OrderClosed as closed:
            return JSONResponse({"error": str(closed)}, 409)
        return _json(attrs.asdict(attempt))

    async def show_deliveries(self, request: Request) -> Response:
        return JSONResponse([d.as_json() for d in self.state.deliveries])


# --- Helpers --------------------------------------------------------------------------------------


def _authenticated(request: Request, state: CloudPaymentsSimulatorState) -> str | None:
    """The public id of a request with valid Basic credentials, else None."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    public_id, separator, secret = decoded.partition(":")
    if not separator or not state.authenticate(public_id, secret):
        return None
    return public_id


def _envelope(success: bool, message: str | None, model: Any = None) -> bytes:
    return wire.encode({"Model": model, "Success": success, "Message": message})


def _json(content: Any) -> Response:
    # Amounts are Decimals: written digit for digit, as CloudPayments writes them.
    return Response(wire.encode(content), media_type="application/json")


def _amount(value: object) -> Decimal | None:
    # CloudPayments takes a JSON number; a string or a float-looking third decimal is refused.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    amount = Decimal(value)
    # A finite Decimal's exponent is an int (the str is for NaN and infinities).
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or amount <= 0 or exponent < -2:
        return None
    return amount


def _answer_code(response: httpx.Response) -> int | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    code = answer.get("code") if isinstance(answer, dict) else None
    return code if type(code) is int else None


def _payment_fields(transaction: SimulatedTransaction, *, status: str) -> dict[str, Any]:
    """Check, Pay and Fail carry the transaction."""
    fields: dict[str, Any] = {
        "TransactionId": transaction.transaction_id,
        "Amount": transaction.amount,
        "Currency": transaction.currency,
        "PaymentAmount": transaction.amount,
        "PaymentCurrency": transaction.currency,
        "OperationType": "Payment",
        "InvoiceId": transaction.invoice_id,
        "AccountId": transaction.account_id,
        "DateTime": transaction.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "CardFirstSix": "424242",
        "CardLastFour": "4242",
        "CardExpDate": TEST_CARD_EXPIRY,
        "CardType": "Visa",
        "TestMode": True,
        "Status": status,
        "Description": transaction.description,
    }
    if status == wire.DECLINED:
        fields["Reason"] = transaction.reason
        fields["ReasonCode"] = transaction.reason_code
    return {k: v for k, v in fields.items() if v is not None}


def _cancel_fields(transaction: SimulatedTransaction) -> dict[str, Any]:
    fields = _payment_fields(transaction, status=wire.CANCELLED)
    fields.pop("Status")  # CloudPayments' Cancel names the transaction, not a status
    return fields


def _refund_fields(paid: SimulatedTransaction, refund_id: int, amount: Decimal, at: datetime) -> dict[str, Any]:
    return {
        k: v
        for k, v in {
            "TransactionId": refund_id,
            "PaymentTransactionId": paid.transaction_id,
            "Amount": amount,
            "Currency": paid.currency,
            "OperationType": "Refund",
            "InvoiceId": paid.invoice_id,
            "AccountId": paid.account_id,
            "DateTime": at.strftime("%Y-%m-%d %H:%M:%S"),
        }.items()
        if v is not None
    }
