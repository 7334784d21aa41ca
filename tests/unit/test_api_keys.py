"""API keys: shown once, stored only as a hash, refused once revoked."""

from __future__ import annotations

import hashlib

import attrs
import pytest

from application.api_keys import KEY_PREFIX
from domain.errors import InvalidValue

from tests.fakes import InMemoryGateway
from tests.unit.conftest import START

pytestmark = pytest.mark.anyio


async def test_an_issued_key_is_stored_as_a_hash_and_never_in_plain_text(gateway: InMemoryGateway) -> None:
    key, plaintext = await gateway.api_keys.issue("shop backend", ["payments"])

    assert plaintext.startswith(KEY_PREFIX) and len(plaintext) > 40
    [stored] = await gateway.api_key_store.list()
    assert stored == key
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert all(plaintext not in str(value) for value in attrs.asdict(stored).values())
    assert (stored.name, stored.scopes, stored.created_at, stored.revoked_at) == (
        "shop backend", {"payments"}, START, None,
    )


async def test_the_plain_text_authenticates_its_key(gateway: InMemoryGateway) -> None:
    key, plaintext = await gateway.api_keys.issue("shop backend", ["payments", "admin"])
    assert await gateway.api_keys.authenticate(plaintext) == key


async def test_every_issued_key_is_different(gateway: InMemoryGateway) -> None:
    issued = [await gateway.api_keys.issue(f"key {n}", ["payments"]) for n in range(3)]
    assert len({plaintext for _, plaintext in issued}) == 3
    assert len({key.id for key, _ in issued}) == 3


@pytest.mark.parametrize("presented", ["", "pgk_wrong", "Bearer pgk_x", "x" * 300, KEY_PREFIX + "a" * 300])
async def test_anything_but_an_issued_key_is_rejected(gateway: InMemoryGateway, presented: str) -> None:
    await gateway.api_keys.issue("shop backend", ["payments"])
    assert await gateway.api_keys.authenticate(presented) is None


async def test_a_key_one_character_off_is_rejected(gateway: InMemoryGateway) -> None:
    _, plaintext = await gateway.api_keys.issue("shop backend", ["payments"])
    tampered = plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")
    assert await gateway.api_keys.authenticate(tampered) is None


async def test_a_revoked_key_is_rejected_and_allows_nothing(gateway: InMemoryGateway) -> None:
    key, plaintext = await gateway.api_keys.issue("leaked", ["payments", "admin"])
    assert await gateway.api_key_store.revoke(key.id, START) is True

    assert await gateway.api_keys.authenticate(plaintext) is None
    [revoked] = await gateway.api_key_store.list()
    assert not revoked.allows("payments") and not revoked.allows("admin")


async def test_a_key_allows_only_its_scopes(gateway: InMemoryGateway) -> None:
    key, _ = await gateway.api_keys.issue("shop backend", ["payments"])
    assert key.allows("payments") and not key.allows("admin")


@pytest.mark.parametrize(
    ("name", "scopes"),
    [("ok", []), ("ok", ["root"]), ("ok", ["payments", "root"]), ("", ["payments"]), ("x" * 101, ["payments"])],
)
async def test_a_key_needs_a_name_and_known_scopes(gateway: InMemoryGateway, name: str, scopes: list[str]) -> None:
    with pytest.raises(InvalidValue):
        await gateway.api_keys.issue(name, scopes)
    assert await gateway.api_key_store.list() == []
