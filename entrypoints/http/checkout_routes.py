"""What a customer's browser opens without an API key: a payment's QR picture and the hosted pay page.

Each link carries a token signed for its one payment (`adapters/checkout_tokens.py`): checked before
the database is read, so a bad token learns nothing of which payments exist. The token is in the
query string, so the answers send `Referrer-Policy: no-referrer` (the page's links must not hand it
on) and the access log masks it (a `token` parameter, `adapters/redaction.py`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
import segno
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from domain.payment import OPEN, Payment, PaymentStatus
from domain.seller_route import KASPI, STRIPE

from adapters.checkout_tokens import CheckoutTokens, InvalidCheckoutToken

from entrypoints.http.checkout_shapes import PayPageStatus
from entrypoints.http.errors import error_body
from entrypoints.http.operations import Handler, Operation, error
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

# Links Kaspi's app opens by scanning: shown as a QR code at a till or on a screen.
KASPI_QR_LINK = "https://pay.kaspi.kz/"
_HERE = Path(__file__).resolve().parent
_PAGES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)
_SCRIPTS = {name: (_HERE / "static" / name).read_bytes() for name in ("pay.js", "pay-stripe.js")}
# Stripe.js comes from Stripe, always; the simulator's stand-in only where Stripe is simulated.
STRIPE_JS = "https://js.stripe.com/v3/"
STRIPE_JS_STANDIN = "/sandbox/stripe/js/v3/"
_PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# The page runs only its own script, talks only to Paygate, and is framed by nobody.
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Stripe.js's own needs (https://docs.stripe.com/security/guide#content-security-policy).
_STRIPE_POLICY = (
    "default-src 'none'; script-src 'self' https://js.stripe.com; connect-src 'self' https://api.stripe.com; "
    "frame-src https://js.stripe.com https://hooks.stripe.com; img-src 'self' https://*.stripe.com; "
    "style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STATUS_WORDS = {
    PaymentStatus.PENDING: "Waiting for payment",
    PaymentStatus.AUTHORIZED: "Paid",
    PaymentStatus.SUCCEEDED: "Paid",
    PaymentStatus.PARTIALLY_REFUNDED: "Paid",
    PaymentStatus.REFUNDED: "Refunded",
    PaymentStatus.FAILED: "Payment failed",
    PaymentStatus.CANCELLED: "Cancelled",
    PaymentStatus.EXPIRED: "Expired",
}


def kaspi_qr_link(payment: Payment) -> str | None:
    """The link Kaspi's app scans, for a Kaspi payment that has one."""
    link = payment.payment_link
    return link if payment.provider == KASPI and link is not None and link.startswith(KASPI_QR_LINK) else None


def provider_checkout(payment: Payment) -> str | None:
    """The provider's own page that takes the payment (YooKassa's checkout, CloudPayments' pay link)."""
    if kaspi_qr_link(payment) is not None:
        return None
    return payment.checkout_url or payment.payment_link


def _stripe_payable(payment: Payment) -> bool:
    return payment.provider == STRIPE and payment.client_secret is not None


def _token(tokens: CheckoutTokens, payment: Payment) -> str:
    return tokens.sign(payment.id, CheckoutTokens.expiry(payment.created_at, payment.expires_at))


def checkout_links(
    tokens: CheckoutTokens, payment: Payment, stripe_publishable_key: str | None
) -> dict[str, str | None]:
    """What the browser needs beside the /v1 resource's other fields: the signed links (paths on
    this API) of the QR picture and the hosted pay page, and for Stripe.js the publishable key and
    the seller's connected account (`Stripe(publishableKey, {stripeAccount})`)."""
    stripe = _stripe_payable(payment)
    links: dict[str, str | None] = {
        "qr_image_url": None,
        "pay_url": None,
        "publishable_key": stripe_publishable_key if stripe else None,
        "stripe_account": payment.merchant_account if stripe else None,
    }
    if kaspi_qr_link(payment) is None and provider_checkout(payment) is None and not stripe:
        return links
    query = urlencode({"token": _token(tokens, payment)})
    qr = f"/v1/payments/{payment.id}/qr.png?{query}" if kaspi_qr_link(payment) else None
    return {**links, "qr_image_url": qr, "pay_url": f"/pay/{payment.id}?{query}"}


async def _payment(request: Request) -> Payment:
    """The payment the request's token opens; InvalidCheckoutToken before anything is read otherwise."""
    cases = use_cases(request)
    payment_id = request.path_params["payment_id"]
    cases.checkout_tokens.verify(payment_id, request.query_params.get("token"), now=cases.clock.now())
    return await cases.get_payment.by_id(payment_id, refresh=False)


def _refused() -> Response:
    message = "the link is not valid for this payment, or it has expired"
    return JsonResponse(error_body("invalid_token", message), status_code=403, headers=_PRIVATE)


def _not_found() -> Response:
    return JsonResponse(error_body("not_found", "this payment has no QR code"), status_code=404, headers=_PRIVATE)


async def qr_image(request: Request) -> Response:
    try:
        payment = await _payment(request)
    except InvalidCheckoutToken:
        return _refused()
    link = kaspi_qr_link(payment)
    if link is None:
        return _not_found()
    qr = segno.make(link, error="m")
    out = io.BytesIO()
    if request.url.path.endswith(".svg"):
        qr.save(out, kind="svg", scale=8, border=4, xmldecl=False)
        return Response(out.getvalue(), media_type="image/svg+xml", headers=_PRIVATE)
    qr.save(out, kind="png", scale=8, border=4)
    return Response(out.getvalue(), media_type="image/png", headers=_PRIVATE)


def return_url_with_status(payment: Payment) -> str | None:
    """The marketplace's return URL with the payment's id and status added (it re-checks them server-side)."""
    if payment.return_url is None:
        return None
    parts = urlsplit(payment.return_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("payment_id", payment.id), ("status", payment.status.value)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _page_status(payment: Payment) -> PayPageStatus:
    done = payment.status not in OPEN or payment.status == PaymentStatus.AUTHORIZED
    return PayPageStatus(
        status=payment.status.value,
        status_text=_STATUS_WORDS[payment.status],
        final=done,
        return_url=return_url_with_status(payment) if done else None,
    )


async def pay_page(request: Request) -> Response:
    try:
        payment = await _payment(request)
    except InvalidCheckoutToken:
        return _refused()
    checkout = provider_checkout(payment)
    if payment.status == PaymentStatus.PENDING and checkout is not None:
        # YooKassa, CloudPayments: their own checkout page takes the payment, then returns to `return_url`.
        return RedirectResponse(checkout, status_code=303, headers=_PRIVATE)
    token = request.query_params["token"]
    query = urlencode({"token": token})
    stripe = _stripe_view(request, payment)
    page = _PAGES.get_template("pay.html").render(
        stripe=stripe,
        payment=payment,
        amount=str(payment.amount),
        status=_page_status(payment),
        kaspi_link=kaspi_qr_link(payment),
        qr_url=f"/v1/payments/{payment.id}/qr.svg?{query}",
        status_url=f"/pay/{payment.id}/status?{query}",
        expires_at=payment.expires_at.isoformat() if payment.expires_at else "",
    )
    policy = _STRIPE_POLICY if stripe is not None else _PAGE_POLICY
    headers = {**_PRIVATE, "Content-Security-Policy": policy}
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)


def _stripe_view(request: Request, payment: Payment) -> dict[str, Any] | None:
    """What Stripe.js needs on the page: the client secret is the one secret a page ever sees."""
    if not _stripe_payable(payment):
        return None
    settings = use_cases(request).settings
    return {
        "publishable_key": settings.stripe_publishable_key or "",
        "account": payment.merchant_account,
        "client_secret": payment.client_secret,
        "currency": payment.amount.currency.lower(),
        "amount": payment.amount.minor,
        "script": STRIPE_JS_STANDIN if settings.stripe_simulated else STRIPE_JS,
    }


async def pay_status(request: Request) -> Response:
    try:
        await _payment(request)
    except InvalidCheckoutToken:
        return _refused()
    payment = await use_cases(request).checkout_status.current(request.path_params["payment_id"])
    return JsonResponse(_page_status(payment), headers=_PRIVATE)


async def pay_script(request: Request) -> Response:
    script = _SCRIPTS.get(request.path_params["name"])
    if script is None:
        return JsonResponse(error_body("not_found", "no such file"), status_code=404)
    headers = {"Cache-Control": "public, max-age=300"}
    return Response(script, media_type="text/javascript; charset=utf-8", headers=headers)


_PAYMENT_PATH = {
    "name": "payment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "example": "pay_01JD8X3V6Q4ZK0M5N2R7T9W1YB"},
}
_TOKEN = {
    "name": "token",
    "in": "query",
    "required": True,
    "description": "the payment's signed token, from its `pay_url` or `qr_image_url`",
    "schema": {"type": "string", "maxLength": 128},
}
_REFUSED = {"403": error("`invalid_token`: missing, tampered, expired, or another payment's")}


def _signed_link(
    path: str, handler: Handler, summary: str, media: str, responses: Mapping[str, Any], answer: Any = None
) -> Operation:
    """A link the customer's browser opens with the payment's signed token instead of an API key."""
    return Operation(
        "GET", path, handler, summary, answer, media=media, public=True, parameters=[_PAYMENT_PATH, _TOKEN],
        responses={**responses, **_REFUSED},
    )


_NO_PICTURE = {"404": error("the payment has no QR code")}

operations = [
    _signed_link(
        "/v1/payments/{payment_id}/qr.png", qr_image, "The Kaspi link's QR code as a PNG picture", "image/png",
        responses=_NO_PICTURE,
    ),
    _signed_link(
        "/v1/payments/{payment_id}/qr.svg", qr_image, "The Kaspi link's QR code as an SVG picture", "image/svg+xml",
        responses=_NO_PICTURE,
    ),
    Operation(
        "GET", "/pay/assets/{name}", pay_script, "The pay page's own scripts", None, media="text/javascript",
        public=True, uses_database=False,
        parameters=[{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
        responses={"404": error("no such file")},
    ),
    _signed_link(
        "/pay/{payment_id}", pay_page,
        "The hosted pay page (a 303 to the provider's own page for YooKassa and CloudPayments)", "text/html",
        responses={"303": {"description": "to the provider's checkout page"}, "404": error("unknown payment")},
    ),
    _signed_link(
        "/pay/{payment_id}/status", pay_status,
        "The payment's status for its pay page; refreshed from the provider at most once per payment per 5 s",
        "application/json", answer=PayPageStatus, responses={"404": error("unknown payment")},
    ),
]
