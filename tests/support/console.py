"""Signing in to the operator console over plain HTTP, as a browser's form would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@contextmanager
def console_client(base_url: str, plaintext: str) -> Iterator[httpx.Client]:
    """A client signed in to the console with the key `plaintext` (cookies kept, redirects not followed)."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = client.get("/console/sign-in")
        answer = client.post("/console/sign-in", data={"api_key": plaintext, "csrf": csrf_of(form.text)})
        assert answer.status_code == 303, answer.text
        yield client
