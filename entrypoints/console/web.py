"""What every console page shares: who is signed in (and may they do this), the CSRF check on
forms, rendering in the reader's language, and refusals as pages rather than JSON."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from domain import errors as domain
from domain.access import ApiKey, Scope

from application import errors as app

from entrypoints.console.i18n import language, translator
from entrypoints.console.session import CSRF_FIELD, SESSION_COOKIE, Session, SessionSigner, same_token
from entrypoints.http.auth import admit
from entrypoints.http.errors import STATUS_BY_ERROR, AuthError, RateLimited
from entrypoints.http.use_cases import use_cases

Page = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, ApiKey], Awaitable[Response]]

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("entrypoints.console", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


class SignInRequired(Exception):
    pass


class CsrfRefused(Exception):
    pass


def money(minor: int | None, currency: str | None) -> str:
    """Minor units as a decimal amount, digits grouped: 1234567 KZT → 12 345.67 KZT. Integer arithmetic only."""
    if minor is None:
        return ""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole:,}.{cents:02d} {currency or ''}".replace(",", "\u202f").strip()


_templates.filters["money"] = money
_templates.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def signer(request: Request) -> SessionSigner:
    return SessionSigner(use_cases(request).console_signing_key)


def current_session(request: Request) -> Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    return signer(request).load(cookie, now=use_cases(request).clock.now())


async def signed_in(request: Request, scope: str) -> tuple[ApiKey, Session]:
    """The key behind this session, looked up again (a revoked key's session ends here), and
    admitted for `scope` by the API's own rule (`entrypoints.http.auth`)."""
    session = current_session(request)
    if session is None:
        raise SignInRequired
    key = await use_cases(request).api_keys.find(session.key_id)
    if key is None or key.revoked_at is not None:
        raise SignInRequired
    return await admit(request, key, scope), session


# The console's forms are a few short fields: anything longer is not one of them.
MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form (what every console form sends); the first value of each field."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise domain.InvalidValue("form", "the form is too large")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=50)
    return {name: values[0] for name, values in fields.items()}


async def checked_form(request: Request, session: Session) -> dict[str, str]:
    form = await read_form(request)
    if not same_token(form.get(CSRF_FIELD), session.csrf):
        raise CsrfRefused
    return form


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    html = _templates.get_template(template).render(
        _=translator(lang), lang=lang, path=request.url.path, query=request.url.query,
        notice=request.query_params.get("notice"), error=request.query_params.get("error"),
        principal=context.pop("principal", None), session=context.pop("session", None), **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=_PAGE_HEADERS)


# Pages are never framed, never cached, and run no script: nothing to inject into, nothing to replay.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}


def back(to: str, **message: str) -> RedirectResponse:
    """303 to a console page (after a form), with a notice or error to show there."""
    query = urlencode({k: v for k, v in message.items() if v})
    separator = "&" if "?" in to else "?"
    return RedirectResponse(f"{to}{separator}{query}" if query else to, status_code=303)


def page(scope: str = Scope.PAYMENTS_READ) -> Callable[[Handler], Page]:
    """A console page or action: signed in, admitted for `scope`, its refusals shown as pages."""

    def wrap(handler: Handler) -> Page:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            try:
                principal, session = await signed_in(request, scope)
                request.state.console_session = session
                return await handler(request, principal)
            except SignInRequired:
                return RedirectResponse("/console/sign-in", status_code=303)
            except CsrfRefused:
                return _refusal(request, 403, "The form expired: send it again.")
            except AuthError as refused:
                return _refusal(request, refused.status, "This key may not do that.", detail=refused.message)
            except RateLimited:
                return _refusal(request, 429, "Too many requests")
            except (
                app.PaymentNotFound, app.ShopNotFound, app.ApiKeyNotFound, app.WebhookNotFound, app.DeliveryNotFound
            ):
                return _refusal(request, 404, "Not found.")
            except (domain.DomainError, app.ApplicationError) as refused:
                if request.method == "POST":
                    return back(request.url.path, error=str(refused))
                status = next((s for kind, s in STATUS_BY_ERROR.items() if isinstance(refused, kind)), 422)
                return _refusal(request, status, "Error", detail=str(refused))

        return run

    return wrap


def _refusal(request: Request, status: int, message: str, *, detail: str | None = None) -> HTMLResponse:
    return render(request, "refusal.html", status_code=status, message=message, detail=detail)


def session_of(request: Request) -> Session:
    session: Session = request.state.console_session
    return session
