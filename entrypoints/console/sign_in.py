"""Sign in with an API key, sign out, and choose the language."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from domain.access import Scope

from entrypoints.console.i18n import LANGUAGE_COOKIE, LANGUAGES
from entrypoints.console.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    new_session,
    same_token,
    set_cookie,
    sign_in_token,
)
from entrypoints.console.web import checked_form, current_session, page, read_form, render, signer
from entrypoints.http.auth import admit
from entrypoints.http.errors import AuthError, RateLimited
from entrypoints.http.use_cases import use_cases

ONE_YEAR = 365 * 24 * 3600


def _secure(request: Request) -> bool:
    return use_cases(request).settings.console_secure_cookie


def _sign_in_page(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
    token = sign_in_token(request)
    response = render(request, "sign_in.html", status_code=status_code, csrf=token, failure=error)
    set_cookie(response, SIGN_IN_COOKIE, token, secure=_secure(request))
    return response


async def show_sign_in(request: Request) -> Response:
    if current_session(request) is not None:
        return RedirectResponse("/console/", status_code=303)
    return _sign_in_page(request)


async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    if not same_token(form.get(CSRF_FIELD), request.cookies.get(SIGN_IN_COOKIE, "")):
        return _sign_in_page(request, error="The form expired: send it again.", status_code=403)
    core = use_cases(request)
    typed = form.get("api_key")
    key = await core.api_keys.authenticate(typed.strip()) if isinstance(typed, str) else None
    if key is None:
        return _sign_in_page(request, error="The API key is unknown or revoked.", status_code=401)
    try:
        # Counted against the key's allowance like any request; a key that may read nothing has no console.
        await admit(request, key, Scope.PAYMENTS_READ)
    except (AuthError, RateLimited):
        return _sign_in_page(request, error="This key may not do that.", status_code=403)
    settings = core.settings
    session = new_session(key.id, now=core.clock.now(), hours=settings.console_session_hours)
    response = RedirectResponse("/console/", status_code=303)
    set_cookie(
        response, SESSION_COOKIE, signer(request).dump(session), secure=_secure(request),
        max_age=int(settings.console_session_hours * 3600),
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/console")
    return response


@page()
async def sign_out(request: Request, _principal: object) -> Response:
    session = request.state.console_session
    await checked_form(request, session)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


async def choose_language(request: Request) -> Response:
    """A preference, not an action on anything: a plain link, remembered by this browser."""
    lang = request.path_params["lang"]
    to = request.query_params.get("next") or "/console/"
    if not to.startswith("/console/") or "//" in to or "\\" in to:
        to = "/console/"
    response = RedirectResponse(to, status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=ONE_YEAR, path="/", samesite="lax", secure=_secure(request))
    return response
