"""API keys: shown once, stored only as a hash, scoped, restricted to shops, audited, revocable."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import attrs
import pytest

from domain.access import Scope
from domain.errors import InvalidValue

from application.api_keys import KEY_PREFIX
from application.errors import ApiKeyNotFound

from tests.support.core import InMemoryGateway
from tests.unit.conftest import OTHER_SHOP, SHOP, START

pytestmark = pytest.mark.anyio


async def test_an_issued_key_is_stored_as_a_hash_and_never_in_plain_text(gateway: InMemoryGateway) -> None:
    key, plaintext = await gateway.api_keys.issue("shop backend", ["payments"])

    assert plaintext.startswith(KEY_PREFIX) and len(plaintext) > 40
    [stored] = await gateway.api_key_store.list()
    assert stored == key
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert all(plaintext not in str(value) for value in attrs.asdict(stored).values())
    assert (stored.name, stored.scopes, stored.shops, stored.created_at, stored.revoked_at) == (
        "shop backend", frozenset({"payments"}), None, START, None,
    )


async def test_a_key_keeps_a_short_prefix_to_be_recognised_by(gateway: InMemoryGateway) -> None:
    key, plaintext = await gateway.api_keys.issue("shop backend", ["payments"])
    assert key.prefix is not None and plaintext.startswith(key.prefix)
    assert len(key.prefix) == len(KEY_PREFIX) + 8


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


async def test_issuing_a_key_is_audited_with_who_did_it(gateway: InMemoryGateway) -> None:
    key, _ = await gateway.api_keys.issue("shop backend", ["payments"], actor="ops")

    [entry] = gateway.db.audit_of("api_key_create")
    assert (entry.external_id, entry.actor, entry.status.value) == (key.id, "ops", "success")


async def test_a_revoked_key_is_rejected_allows_nothing_and_the_revocation_is_audited(
    gateway: InMemoryGateway,
) -> None:
    key, plaintext = await gateway.api_keys.issue("leaked", ["payments", "admin"])
    gateway.clock.advance(timedelta(hours=1))

    revoked = await gateway.api_keys.revoke(key.id, actor="ops")

    assert revoked.revoked_at == START + timedelta(hours=1)
    assert await gateway.api_keys.authenticate(plaintext) is None
    [stored] = await gateway.api_key_store.list()
    assert stored == revoked and not stored.allows("payments") and not stored.allows("admin")
    [entry] = gateway.db.audit_of("api_key_revoke")
    assert (entry.external_id, entry.actor) == (key.id, "ops")


async def test_revoking_twice_keeps_the_first_revocation_and_records_it_once(gateway: InMemoryGateway) -> None:
    key, _ = await gateway.api_keys.issue("leaked", ["payments"])
    first = await gateway.api_keys.revoke(key.id, actor="ops")
    gateway.clock.advance(timedelta(days=1))

    again = await gateway.api_keys.revoke(key.id, actor="someone else")

    assert again.revoked_at == first.revoked_at == START
    assert len(gateway.db.audit_of("api_key_revoke")) == 1


async def test_revoking_an_unknown_key_is_refused(gateway: InMemoryGateway) -> None:
    with pytest.raises(ApiKeyNotFound):
        await gateway.api_keys.revoke("key_missing", actor="ops")
    assert gateway.db.audit_of("api_key_revoke") == []


async def test_a_revocation_tells_the_caches_which_key_to_forget(gateway: InMemoryGateway) -> None:
    keys, forgotten = gateway.api_keys, gateway.api_key_store.forgotten
    key, _ = await keys.issue("leaked", ["payments"])
    assert forgotten == []  # a new key is not in any cache: nothing to forget

    await keys.revoke(key.id)

    assert forgotten == [key.key_hash]


@pytest.mark.parametrize(
    ("scopes", "allowed", "refused"),
    [
        (["payments"], ["payments", "payments:read", "payments:write"], ["admin", "routes:secrets"]),
        (["payments:read"], ["payments:read"], ["payments", "payments:write", "admin"]),
        (["payments:write"], ["payments:write"], ["payments", "payments:read"]),
        (["payments:read", "payments:write"], ["payments", "payments:read", "payments:write"], ["admin"]),
        (["admin"], ["admin"], ["routes:secrets", "payments:read"]),
        (["routes:secrets"], ["routes:secrets"], ["admin", "payments:read"]),
    ],
)
async def test_a_key_allows_its_scopes_and_what_they_stand_for_only(
    gateway: InMemoryGateway, scopes: list[str], allowed: list[str], refused: list[str]
) -> None:
    key, _ = await gateway.api_keys.issue("shop backend", scopes)
    assert [s for s in allowed if key.allows(s)] == allowed
    assert [s for s in refused if key.allows(s)] == []


def test_every_scope_can_be_issued() -> None:
    assert {s.value for s in Scope} == {"payments", "payments:read", "payments:write", "admin", "routes:secrets"}


async def test_a_key_restricted_to_shops_reaches_only_those(gateway: InMemoryGateway) -> None:
    key, plaintext = await gateway.api_keys.issue("one seller", ["payments"], shops=[SHOP])

    assert key.shops == frozenset({SHOP})
    assert key.reaches(SHOP) and not key.reaches(OTHER_SHOP)
    assert await gateway.api_keys.authenticate(plaintext) == key


async def test_an_unrestricted_key_reaches_every_shop(gateway: InMemoryGateway) -> None:
    key, _ = await gateway.api_keys.issue("marketplace", ["payments"])
    assert key.shops is None and key.reaches(SHOP) and key.reaches(OTHER_SHOP)


@pytest.mark.parametrize(
    ("name", "scopes", "shops"),
    [
        ("ok", [], None),
        ("ok", ["root"], None),
        ("ok", ["payments", "root"], None),
        ("", ["payments"], None),
        ("x" * 101, ["payments"], None),
        ("new\nline", ["payments"], None),
        ("ok", ["payments"], []),
        ("ok", ["payments"], [0]),
        ("ok", ["payments"], [-5]),
        ("ok", ["payments"], [2**63]),
    ],
)
async def test_a_key_needs_a_name_known_scopes_and_real_shops(
    gateway: InMemoryGateway, name: str, scopes: list[str], shops: list[int] | None
) -> None:
    with pytest.raises(InvalidValue):
        await gateway.api_keys.issue(name, scopes, shops=shops)
    assert await gateway.api_key_store.list() == []
    assert gateway.db.audit_of("api_key_create") == []


async def test_a_key_cannot_be_restricted_to_a_shop_nobody_routes(gateway: InMemoryGateway) -> None:
    with pytest.raises(InvalidValue, match="shop 999 is unknown") as refused:
        await gateway.api_keys.issue("typo", ["payments"], shops=[SHOP, 999])

    assert refused.value.field == "shop"
    assert await gateway.api_key_store.list() == []
    assert gateway.db.audit_of("api_key_create") == []


async def test_unknown_scopes_are_refused_naming_the_known_ones_plainly(gateway: InMemoryGateway) -> None:
    with pytest.raises(InvalidValue) as refused:
        await gateway.api_keys.issue("k", ["root"])

    assert refused.value.message == "scopes must be among admin, payments, payments:read, payments:write, routes:secrets"


async def test_a_key_created_by_another_never_exceeds_its_creator(gateway: InMemoryGateway) -> None:
    creator, _ = await gateway.api_keys.issue("seller admin", ["payments:read", "admin"], shops=[SHOP])

    with pytest.raises(InvalidValue, match="lacks: payments"):
        await gateway.api_keys.issue("writer", ["payments"], shops=[SHOP], creator=creator)
    with pytest.raises(InvalidValue) as everywhere:
        await gateway.api_keys.issue("reader", ["payments:read"], creator=creator)
    with pytest.raises(InvalidValue):
        await gateway.api_keys.issue("reader", ["payments:read"], shops=[SHOP, OTHER_SHOP], creator=creator)
    within, _ = await gateway.api_keys.issue("reader", ["payments:read"], shops=[SHOP], creator=creator)

    assert everywhere.value.field == "shop"
    assert (within.scopes, within.shops) == (frozenset({"payments:read"}), frozenset({SHOP}))
    assert await gateway.api_keys.find(within.id) == within
