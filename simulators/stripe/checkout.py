"""The browser's side of the Stripe simulator: confirming a PaymentIntent as Stripe.js does.

Stripe.js confirms with the platform's publishable key (the `key` form field, or a bearer header)
and the PaymentIntent's client secret, on the connected account of `Stripe-Account` /
`_stripe_account`: `POST /v1/payment_intents/{id}/confirm`. The card decides, as Stripe's test
cards do (https://docs.stripe.com/testing): 4242 4242 4242 4242 pays, 4000 0027 6000 3184 asks for
3-D Secure (`requires_action`, `next_action.redirect_to_url`: a simulated challenge page), 4000 0000
0000 0002 is declined (`card_declined`, 402; the PaymentIntent waits for another method). Test
PaymentMethods (`pm_card_visa`, `pm_card_authenticationRequired`, `pm_card_chargeDeclined`) do the same.
Each change is delivered to the gateway as a signed webhook, as Stripe would.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from simulators.stripe.state import (
    REQUIRES_ACTION,
    SimulatedEvent,
    StripeFailure,
    StripeSimulatorState,
)

PAYS, AUTHENTICATES, DECLINED = "pays", "authenticates", "declined"
TEST_CARDS = {"4242424242424242": PAYS, "4000002760003184": AUTHENTICATES, "4000000000000002": DECLINED}
TEST_PAYMENT_METHODS = {
    "pm_card_visa": PAYS,
    "pm_card_authenticationRequired": AUTHENTICATES,
    "pm_card_chargeDeclined": DECLINED,
}
# The PaymentMethods the Stripe.js stand-in's Payment Request makes, as Stripe.js makes one from the
# wallet's card: it pays, and the Charge tells the wallet (`payment_method_details.card.wallet.type`).
WALLET_PAYMENT_METHODS = {"pm_standin_apple_pay": "apple_pay", "pm_standin_google_pay": "google_pay"}
_MAX_BODY = 16 * 1024

Deliver = Callable[[SimulatedEvent], Awaitable[object]]


def checkout_routes(*, state: StripeSimulatorState, publishable_key: str, deliver: Deliver) -> list[Route]:
    confirmations = _Confirmations(state=state, publishable_key=publishable_key, deliver=deliver)
    return [
        Route("/v1/payment_intents/{id}/confirm", confirmations.confirm, methods=["POST"]),
        Route("/three_d_secure/{id}", confirmations.challenge, methods=["GET"]),
        Route("/three_d_secure/{id}", confirmations.answer_challenge, methods=["POST"]),
        Route("/js/v3/", stripe_js_standin, methods=["GET"]),
    ]


_STANDIN = (Path(__file__).resolve().parent / "static" / "stripe-js-standin.js").read_bytes()


async def stripe_js_standin(_request: Request) -> Response:
    return Response(_STANDIN, media_type="text/javascript; charset=utf-8")


class _Confirmations:
    def __init__(self, *, state: StripeSimulatorState, publishable_key: str, deliver: Deliver) -> None:
        self._state = state
        self._publishable_key = publishable_key
        self._deliver = deliver
        self._return_urls: dict[str, str] = {}

    async def confirm(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > _MAX_BODY:
            return _failure(StripeFailure(400, "Request body too large"))
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        key = form.get("key") or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if key != self._publishable_key:
            return _failure(StripeFailure(401, "Invalid API Key provided", code="api_key_invalid"))
        intent = self._state.intent(request.path_params["id"])
        account = form.get("_stripe_account") or request.headers.get("stripe-account", "")
        if intent is None or intent.account != account or form.get("client_secret") != intent.client_secret:
            # A wrong secret or account: no such PaymentIntent, as Stripe answers a publishable key.
            message = f"No such payment_intent: '{request.path_params['id']}'"
            return _failure(StripeFailure(404, message, code="resource_missing", param="intent"))
        outcome = _card_outcome(form)
        if outcome is None:
            incorrect = StripeFailure(402, "Your card number is incorrect.", type="card_error", code="incorrect_number")
            return _failure(incorrect)
        try:
            if outcome == DECLINED:
                await self._tell(self._state.decline(intent.id, decline_code="generic_decline"))
                failure = StripeFailure(402, "Your card was declined.", type="card_error", code="card_declined")
                answer = failure.body()
                answer["error"].update({"decline_code": "generic_decline", "payment_intent": self._view(intent.id)})
                return JSONResponse(answer, 402)
            if outcome == AUTHENTICATES:
                await self._tell(self._state.require_action(intent.id))
                self._return_urls[intent.id] = form.get("return_url", "")
                return JSONResponse(self._with_challenge(request, self._view(intent.id)))
            wallet = WALLET_PAYMENT_METHODS.get(form.get("payment_method", ""))
            await self._tell(self._state.pay(intent.id, wallet=wallet))
        except ValueError as refusal:  # not payable any more (paid, cancelled)
            return _failure(StripeFailure(400, str(refusal), code="payment_intent_unexpected_state"))
        return JSONResponse(self._view(intent.id))

    def _view(self, intent_id: str) -> dict[str, Any]:
        intent = self._state.intent(intent_id)  # a copy as it stands now
        assert intent is not None
        return intent.as_json()

    async def challenge(self, request: Request) -> Response:
        intent = self._state.intent(request.path_params["id"])
        if intent is None or intent.status != REQUIRES_ACTION:
            return HTMLResponse("<p>No authentication is pending.</p>", 404)
        page = (
            "<!doctype html><title>3-D Secure (simulated)</title>"
            "<h1>3-D Secure test page</h1>"
            f"<p>Authenticate the payment of {intent.amount} {html.escape(intent.currency.upper())} "
            "(minor units; Stripe simulator).</p>"
            '<form method="post"><button name="result" value="complete" id="complete">Complete authentication</button>'
            '<button name="result" value="fail" id="fail">Fail authentication</button></form>'
        )
        return HTMLResponse(page)

    async def answer_challenge(self, request: Request) -> Response:
        intent = self._state.intent(request.path_params["id"])
        if intent is None or intent.status != REQUIRES_ACTION:
            return HTMLResponse("<p>No authentication is pending.</p>", 404)
        form = dict(parse_qsl((await request.body())[:_MAX_BODY].decode("utf-8", "replace")))
        if form.get("result") == "complete":
            await self._tell(self._state.pay(intent.id))
        else:
            await self._tell(self._state.decline(intent.id, decline_code="authentication_required"))
        return_url = self._return_urls.pop(intent.id, "")
        if not return_url:
            said = "completed" if form.get("result") == "complete" else "failed"
            return HTMLResponse(f"<p>Authentication {said}.</p>")
        status = "succeeded" if form.get("result") == "complete" else "failed"
        query = urlencode({"payment_intent": intent.id, "payment_intent_client_secret": intent.client_secret,
                           "redirect_status": status})
        return RedirectResponse(f"{return_url}{'&' if '?' in return_url else '?'}{query}", status_code=303)

    def _with_challenge(self, request: Request, view: dict[str, Any]) -> dict[str, Any]:
        prefix = request.scope.get("root_path", "")
        url = f"{request.base_url.scheme}://{request.base_url.netloc}{prefix}/three_d_secure/{view['id']}"
        redirect = {"url": url, "return_url": self._return_urls.get(view["id"]) or None}
        return {**view, "next_action": {"type": "redirect_to_url", "redirect_to_url": redirect}}

    async def _tell(self, events: list[SimulatedEvent]) -> None:
        for event in events:
            await self._deliver(event)


def _card_outcome(form: Mapping[str, str]) -> str | None:
    method = form.get("payment_method")
    if method:
        return PAYS if method in WALLET_PAYMENT_METHODS else TEST_PAYMENT_METHODS.get(method)
    number = form.get("payment_method_data[card][number]", "").replace(" ", "")
    return TEST_CARDS.get(number)


def _failure(failure: StripeFailure) -> Response:
    return JSONResponse(failure.body(), failure.status)
