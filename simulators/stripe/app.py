"""A local Stripe API: PaymentIntents and Refunds on connected accounts, in Stripe's wire format, with controls.

Stripe's routes, as Stripe speaks them (Bearer secret key, form-encoded POST bodies, JSON objects
and error shapes, `Stripe-Account` scoping every object to one connected account, `Idempotency-Key`
replaying the first answer and refusing other parameters under the same key):
`POST /v1/payment_intents`, `GET /v1/payment_intents/{id}`, `POST /v1/payment_intents/{id}/capture`,
`POST /v1/payment_intents/{id}/cancel`, `POST /v1/refunds`, `GET /v1/refunds/{id}`.

Controls (not Stripe's): `POST /control/payment_intents/{id}/{pay|decline|require_action|process}`
with an optional JSON body `{"notify": true}` to deliver the resulting events at once (and, to pay,
`"wallet": "apple_pay"|"google_pay"` for the card wallet the Charge tells),
`GET /control/payment_intents/{id}`, `POST /control/payment_intents/{id}/webhook`
`{"type", "status"?, "signature"?: "valid"|"forged"|"stale"|"none", "url"?}` (a signed event,
possibly doctored or badly signed), `GET /control/events`, `POST /control/events/{id}/deliver`,
`GET|POST /control/knobs`, `POST /control/reset`, `GET /control/requests`.

Faults: `http_500`, `http_502` and `http_503` answer before anything happens; `timeout` performs
the operation, stores its answer under the idempotency key, and loses it (a retry with the same key
gets the stored answer, as at Stripe).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.base import json_object, masked_headers, simulator_app, wait_or_disconnect
from simulators.stripe.checkout import checkout_routes
from simulators.stripe.state import (
    Delivery,
    RecordedRequest,
    SimulatedEvent,
    StoredAnswer,
    StripeFailure,
    StripeSimulatorState,
    api_json,
    new_id,
    signed_event,
)

MAX_BODY_BYTES = 256 * 1024
MAX_IDEMPOTENCY_KEY = 255
MAX_AMOUNT = 99_999_999  # Stripe's ceiling: eight digits of minor units
_ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{1,64}")
_FORM_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_AMOUNT = re.compile(r"[0-9]{1,12}")
_CURRENCY = re.compile(r"[a-z]{3}")

# Which parameters each operation takes; anything else is refused, as Stripe refuses it.
_CREATE_PARAMS = frozenset(
    {
        "amount", "currency", "automatic_payment_methods", "allowed_payment_method_types", "capture_method",
        "description", "metadata", "expand",
    }
)
_CAPTURE_PARAMS = frozenset({"amount_to_capture", "metadata", "expand"})
_CANCEL_PARAMS = frozenset({"cancellation_reason", "expand"})
_REFUND_PARAMS = frozenset({"payment_intent", "amount", "metadata", "reason", "expand"})
_EXPAND_KEY = re.compile(r"expand\[\d*\]")
_LIST_REFUNDS_PARAMS = frozenset({"payment_intent", "charge", "limit", "starting_after", "ending_before", "created"})
_CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
_CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
_VALIDATION_CODES = frozenset(
    {"parameter_unknown", "parameter_missing", "parameter_invalid", "parameter_invalid_integer"}
)


# --- The ASGI app ---------------------------------------------------------------------------------


def create_stripe_simulator(
    *, secret_key: str, state: StripeSimulatorState | None = None, publishable_key: str | None = None
) -> Starlette:
    """The simulator as a Starlette app; mount it anywhere (the gateway uses `/sandbox/stripe`).
    With `publishable_key`, the browser confirms too, as Stripe.js would (`checkout.py`)."""
    if not secret_key:
        raise ValueError("the simulator needs a secret key to check")
    endpoints = _Endpoints(secret_key=secret_key, state=state if state is not None else StripeSimulatorState())
    return simulator_app(
        endpoints.state,
        [
            Route("/v1/payment_intents", endpoints.api("create"), methods=["POST"]),
            Route("/v1/payment_intents/{id}", endpoints.api("retrieve"), methods=["GET"]),
            Route("/v1/payment_intents/{id}/capture", endpoints.api("capture"), methods=["POST"]),
            Route("/v1/payment_intents/{id}/cancel", endpoints.api("cancel"), methods=["POST"]),
            Route("/v1/refunds", endpoints.api("refund"), methods=["POST"]),
            Route("/v1/refunds", endpoints.api("list_refunds"), methods=["GET"]),
            Route("/v1/refunds/{id}", endpoints.api("retrieve_refund"), methods=["GET"]),
            Route("/control/payment_intents/{id}", endpoints.show_intent, methods=["GET"]),
            Route("/control/payment_intents/{id}/webhook", endpoints.send_webhook, methods=["POST"]),
            Route("/control/payment_intents/{id}/{action}", endpoints.customer, methods=["POST"]),
            Route("/control/refunds/{id}/{action}", endpoints.settle_refund, methods=["POST"]),
            Route("/control/events", endpoints.list_events, methods=["GET"]),
            Route("/control/events/{id}/deliver", endpoints.deliver_event, methods=["POST"]),
            *(
                checkout_routes(state=endpoints.state, publishable_key=publishable_key, deliver=endpoints.deliver_now)
                if publishable_key
                else []
            ),
        ],
        controls_prefix="/control",
    )


class _Endpoints:
    def __init__(self, *, secret_key: str, state: StripeSimulatorState) -> None:
        self._secret_key = secret_key.encode()
        self.state = state

    # --- Stripe's API -------------------------------------------------------------------------

    def api(self, operation: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return await self._serve(operation, request)

        return endpoint

    async def _serve(self, operation: str, request: Request) -> Response:
        body = await _read_limited(request)
        if body is None:
            return _failure(StripeFailure(413, f"Request body is larger than {MAX_BODY_BYTES} bytes"))
        self.state.record(_recorded(request, body))
        try:
            self._authenticate(request)
            account = _account(request)
            params = _decode_form(body) if request.method == "POST" else dict(request.query_params)
        except StripeFailure as failure:
            return _failure(failure)
        fault = self.state.take_fault(operation)
        if fault in ("http_500", "http_502", "http_503"):
            # Before anything happened (a load balancer's error): nothing is stored under the key.
            status = int(fault.removeprefix("http_"))
            return JSONResponse(
                StripeFailure(status, "An unknown error occurred", type="api_error").body(),
                status,
                headers=_request_id(),
            )
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
            return _failure(StripeFailure(400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"))
        scope: tuple[str, str] | None = None
        if key is not None:
            scope = (account, key)
            fingerprint = (
                request.url.path,
                tuple(sorted(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))),
            )
            earlier = self.state.begin(scope, fingerprint)
            if isinstance(earlier, StripeFailure):
                return _failure(earlier)
            if earlier is not None:
                return Response(
                    earlier.body,
                    earlier.status,
                    media_type="application/json",
                    headers={**_request_id(), "Idempotent-Replayed": "true", "Idempotency-Key": key},
                )
        stored: StoredAnswer | None = None
        try:
            # The request takes its time while it holds its idempotency key.
            await wait_or_disconnect(request, self.state.knobs.latency_ms / 1000)
            try:
                status, content = 200, self._perform(operation, account, request.path_params, params)
                ran = True
            except StripeFailure as failure:
                status, content = failure.status, failure.body()
                # Stripe keeps no result for a request it refused while validating its parameters.
                ran = failure.code not in _VALIDATION_CODES
            encoded = api_json(content)
            if scope is not None and ran:
                stored = StoredAnswer(fingerprint, status, encoded)
        finally:
            if scope is not None:
                self.state.finish(scope, stored)
        if fault == "timeout":
            # The operation happened; its answer never arrives (until the client gives up).
            await wait_or_disconnect(request, self.state.hang_seconds)
            return JSONResponse(StripeFailure(504, "Gateway timeout", type="api_error").body(), 504)
        headers = _request_id()
        if key is not None:
            headers["Idempotency-Key"] = key
        return Response(encoded, status, media_type="application/json", headers=headers)

    def _authenticate(self, request: Request) -> None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise StripeFailure(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if not hmac.compare_digest(key.encode(), self._secret_key):
            raise StripeFailure(401, f"Invalid API Key provided: {_masked(key)}", code="api_key_invalid")

    def _perform(self, operation: str, account: str, path: Mapping[str, str], params: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        if operation == "create":
            _only(params, _CREATE_PARAMS)
            amount = _amount(params, "amount", required=True)
            assert amount is not None
            currency = params.get("currency")
            if not isinstance(currency, str) or not currency:
                raise StripeFailure(
                    400, "Missing required param: currency.", code="parameter_missing", param="currency"
                )
            if not _CURRENCY.fullmatch(currency):
                raise StripeFailure(400, f"Invalid currency: {currency}.", code="parameter_invalid", param="currency")
            capture_method = params.get("capture_method", "automatic_async")
            if capture_method not in _CAPTURE_METHODS:
                raise StripeFailure(
                    400, f"Invalid capture_method: {capture_method}", code="parameter_invalid", param="capture_method"
                )
            automatic = params.get("automatic_payment_methods", {})
            if not isinstance(automatic, dict) or automatic.get("enabled", "true") not in ("true", "false"):
                raise StripeFailure(
                    400,
                    "Invalid automatic_payment_methods[enabled]",
                    code="parameter_invalid",
                    param="automatic_payment_methods[enabled]",
                )
            types = params.get("allowed_payment_method_types")
            if types is not None and (not isinstance(types, dict) or set(types.values()) - {"card"}):
                raise StripeFailure(
                    400, "The simulator takes only the card payment method type",
                    code="parameter_invalid", param="allowed_payment_method_types",
                )
            return state.create_intent(
                account=account,
                payment_method_types=tuple(types.values()) if types else None,
                amount=amount,
                currency=currency,
                capture_method=capture_method,
                description=_text(params, "description"),
                metadata=_metadata(params),
                automatic_payment_methods=automatic.get("enabled", "true") == "true",
            )
        if operation == "retrieve":
            return state.retrieve_intent(
                account=account, intent_id=path["id"], expand_charge="latest_charge" in _expanded(params)
            )
        if operation == "capture":
            _only(params, _CAPTURE_PARAMS)
            return state.capture_intent(
                account=account, intent_id=path["id"], amount_to_capture=_amount(params, "amount_to_capture")
            )
        if operation == "cancel":
            _only(params, _CANCEL_PARAMS)
            reason = _text(params, "cancellation_reason")
            if reason is not None and reason not in _CANCELLATION_REASONS:
                raise StripeFailure(
                    400, f"Invalid cancellation_reason: {reason}", code="parameter_invalid", param="cancellation_reason"
                )
            return state.cancel_intent(account=account, intent_id=path["id"], reason=reason)
        if operation == "refund":
            _only(params, _REFUND_PARAMS)
            intent_id = _text(params, "payment_intent")
            if not intent_id:
                raise StripeFailure(
                    400,
                    "One of the following params should be provided for this request: payment_intent or charge.",
                    code="parameter_missing",
                )
            return state.create_refund(
                account=account,
                intent_id=intent_id,
                amount=_amount(params, "amount"),
                metadata=_metadata(params),
                reason=_text(params, "reason"),
            )
        if operation == "list_refunds":
            _only(params, _LIST_REFUNDS_PARAMS)
            limit = _amount(params, "limit") or 10
            if limit > 100:
                raise StripeFailure(
                    400, "Invalid limit: must be between 1 and 100", code="parameter_invalid", param="limit"
                )
            return state.list_refunds(
                account=account,
                intent_id=_text(params, "payment_intent"),
                limit=limit,
                starting_after=_text(params, "starting_after"),
            )
        return state.retrieve_refund(account=account, refund_id=path["id"])

    # --- Controls -------------------------------------------------------------------------------

    async def show_intent(self, request: Request) -> Response:
        intent = self.state.intent(request.path_params["id"])
        if intent is None:
            return JSONResponse({"error": "unknown payment intent"}, 404)
        view = intent.as_json()
        view["account"] = intent.account or None
        view["refunded"] = intent.refunded
        view["refunds"] = [r.as_json() for r in self.state.refunds_of(intent.id)]
        return JSONResponse(view)

    async def customer(self, request: Request) -> Response:
        intent_id, action = request.path_params["id"], request.path_params["action"]
        actions = {
            "pay": self.state.pay,
            "decline": self.state.decline,
            "require_action": self.state.require_action,
            "process": self.state.process,
        }
        if action not in actions:
            return JSONResponse({"error": f"unknown action {action}"}, 404)
        options = await json_object(request)
        wallet = options.get("wallet")
        try:
            if action == "pay" and isinstance(wallet, str) and wallet:
                events = self.state.pay(intent_id, wallet=wallet)
            else:
                events = actions[action](intent_id)
        except LookupError:
            return JSONResponse({"error": "unknown payment intent"}, 404)
        except ValueError as refusal:
            return JSONResponse({"error": str(refusal)}, 409)
        deliveries = []
        if options.get("notify"):
            for event in events:
                deliveries.append(await self._deliver(event, options))
        intent = self.state.intent(intent_id)
        assert intent is not None
        return JSONResponse(
            {
                "payment_intent": intent.as_json(),
                "events": [e.id for e in events],
                "deliveries": [d.as_json() for d in deliveries],
            }
        )

    async def settle_refund(self, request: Request) -> Response:
        """A pending refund's final word (`succeed` or `fail`); `{"notify": true}` delivers its events."""
        refund_id, action = request.path_params["id"], request.path_params["action"]
        if action not in ("succeed", "fail"):
            return JSONResponse({"error": f"unknown action {action}"}, 404)
        options = await json_object(request)
        try:
            events = self.state.settle_refund(refund_id, succeed=action == "succeed")
        except LookupError:
            return JSONResponse({"error": "unknown refund"}, 404)
        except ValueError as refusal:
            return JSONResponse({"error": str(refusal)}, 409)
        deliveries = [await self._deliver(event, options) for event in events] if options.get("notify") else []
        return JSONResponse({"events": [e.id for e in events], "deliveries": [d.as_json() for d in deliveries]})

    async def send_webhook(self, request: Request) -> Response:
        options = await json_object(request)
        event_type = options.get("type")
        status = options.get("status")
        if not isinstance(event_type, str) or not (status is None or isinstance(status, str)):
            return JSONResponse({"error": "type (and status, if given) must be strings"}, 400)
        try:
            event = self.state.doctored_event(request.path_params["id"], event_type, status)
        except LookupError:
            return JSONResponse({"error": "unknown payment intent"}, 404)
        return await self._delivery_response(event, options)

    async def list_events(self, request: Request) -> Response:
        return JSONResponse([e.as_json() for e in self.state.events])

    async def deliver_event(self, request: Request) -> Response:
        options = await json_object(request)
        event = self.state.event(request.path_params["id"])
        if event is None:
            return JSONResponse({"error": "unknown event"}, 404)
        return await self._delivery_response(event, options)

    async def _delivery_response(self, event: SimulatedEvent, options: Mapping[str, Any]) -> Response:
        try:
            delivery = await self._deliver(event, options)
        except ValueError as refusal:
            return JSONResponse({"error": str(refusal)}, 400)
        return JSONResponse(delivery.as_json())

    async def deliver_now(self, event: SimulatedEvent) -> Delivery:
        return await self._deliver(event, {})

    async def _deliver(self, event: SimulatedEvent, options: Mapping[str, Any]) -> Delivery:
        """Sign and POST `event` to the webhook endpoint, as Stripe does; the receiver's answer is a result."""
        url = options.get("url") or self.state.webhook_url
        secret = self.state.webhook_secret
        signature = options.get("signature", "valid")
        if not isinstance(url, str) or not url or not secret:
            raise ValueError("no webhook endpoint is configured (url and secret)")
        body, headers = signed_event(event, secret, signature=signature)
        # A control-plane call, once per delivery: a short-lived client is fine here.
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
            try:
                answer = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as error:
                return Delivery(event.id, event.type, signature, None, type(error).__name__)
        return Delivery(event.id, event.type, signature, answer.status_code, answer.text[:1000])


# --- Wire helpers ------------------------------------------------------------------------------------


def _request_id() -> dict[str, str]:
    return {"Request-Id": new_id("req")}


def _failure(failure: StripeFailure) -> Response:
    return JSONResponse(failure.body(), failure.status, headers=_request_id())


def _masked(key: str) -> str:
    return f"{key[:8]}{'*' * max(len(key) - 12, 4)}{key[-4:]}" if len(key) > 12 else "*" * len(key)


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None past MAX_BODY_BYTES (never a truncated body: that would change the parameters)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _recorded(request: Request, body: bytes) -> RecordedRequest:
    headers = masked_headers(request, authorization="Bearer ***")
    root = request.scope.get("root_path", "")
    path = request.url.path
    return RecordedRequest(request.method, path.removeprefix(root) if root else path, headers, body)


def _account(request: Request) -> str:
    account = request.headers.get("stripe-account")
    if account is None:
        return ""
    if not _ACCOUNT.fullmatch(account):
        raise StripeFailure(
            403,
            f"The provided key does not have access to account '{account}' (or that account does not exist).",
            code="account_invalid",
        )
    return account


def _decode_form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding (`metadata[order_id]=7`) into nested dicts, as Stripe reads it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise StripeFailure(400, "Invalid request body: not UTF-8") from None
    params: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        match = _FORM_KEY.fullmatch(key)
        if match is None:
            raise StripeFailure(400, f"Invalid parameter name: {key}", code="parameter_invalid")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = params
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise StripeFailure(400, f"Invalid hash: {key}", code="parameter_invalid", param=key)
            node = child
        node[path[-1]] = value
    return params


def _expanded(params: Mapping[str, Any]) -> list[Any]:
    """`expand[]=...`: a query string names it `expand[0]`, `expand[]`; a form body decodes to a hash."""
    listed = params.get("expand")
    if isinstance(listed, dict):
        return list(listed.values())
    return [value for key, value in params.items() if _EXPAND_KEY.fullmatch(key)]


def _only(params: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise StripeFailure(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def _amount(params: Mapping[str, Any], name: str, *, required: bool = False) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise StripeFailure(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
        return None
    if not isinstance(raw, str) or not _AMOUNT.fullmatch(raw):
        raise StripeFailure(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name)
    amount = int(raw)
    if amount < 1:
        raise StripeFailure(
            400, "This value must be greater than or equal to 1.", code="parameter_invalid_integer", param=name
        )
    if amount > MAX_AMOUNT:
        raise StripeFailure(400, f"Amount must be no more than {MAX_AMOUNT}", code="amount_too_large", param=name)
    return amount


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise StripeFailure(400, f"Invalid string: {name}", code="parameter_invalid", param=name)
    return value


def _metadata(params: Mapping[str, Any]) -> dict[str, str]:
    metadata = params.get("metadata", {})
    if not isinstance(metadata, dict):
        raise StripeFailure(400, "Invalid metadata", code="parameter_invalid", param="metadata")
    if len(metadata) > 50:
        raise StripeFailure(400, "Metadata can have at most 50 keys.", code="parameter_invalid", param="metadata")
    for key, value in metadata.items():
        if not isinstance(value, str) or len(key) > 40 or len(value) > 500:
            raise StripeFailure(400, f"Invalid metadata[{key}]", code="parameter_invalid", param=f"metadata[{key}]")
    # An empty value unsets a key at Stripe.
    return {k: v for k, v in metadata.items() if v != ""}

