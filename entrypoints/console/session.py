"""The console's sign-in: a session cookie naming the API key that signed in, signed with a key
derived from SECRETS_KEY (every replica accepts it), and a CSRF token bound to the session.

The cookie holds no secret: the key's id, when the session ends, and the CSRF token, under an
HMAC-SHA256 signature. The key itself is looked up again on every request, so a revoked key's
session ends at its next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import attrs
import msgspec
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "paygate_console"
# Before sign-in there is no session: the sign-in form's CSRF token is this cookie's value, sent back in the form.
SIGN_IN_COOKIE = "paygate_console_signin"
CSRF_FIELD = "csrf"
PATH = "/console"


@attrs.frozen
class Session:
    key_id: str
    expires_at: datetime
    csrf: str


class SessionSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def dump(self, session: Session) -> str:
        payload = msgspec.json.encode(
            {"k": session.key_id, "e": int(session.expires_at.timestamp()), "c": session.csrf}
        )
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def load(self, cookie: str, *, now: datetime) -> Session | None:
        """The session in `cookie`, or None when it is forged, malformed or over."""
        body, _, signature = cookie.partition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = msgspec.json.decode(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(str(data["k"]), datetime.fromtimestamp(int(data["e"]), tz=now.tzinfo), str(data["c"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > now else None

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_session(key_id: str, *, now: datetime, hours: float) -> Session:
    return Session(key_id, now + timedelta(hours=hours), secrets.token_urlsafe(24))


def set_cookie(response: Response, name: str, value: str, *, secure: bool, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=PATH, httponly=True, samesite="strict", secure=secure
    )


def same_token(sent: object, expected: str) -> bool:
    return isinstance(sent, str) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def sign_in_token(request: Request) -> str:
    """The sign-in form's token: the one in its cookie, or a fresh one (set by the caller)."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
