"""Payment, refund and event ids: `<prefix>_<ULID>`, sortable by creation time."""

from __future__ import annotations

import time

from adapters.system import UlidGenerator

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _decoded(ulid: str) -> int:
    value = 0
    for char in ulid:
        value = value * 32 + CROCKFORD.index(char)
    return value


def test_an_id_is_its_prefix_and_26_crockford_characters_led_by_the_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    prefix, _, ulid = UlidGenerator().new_id("pay").partition("_")
    after = time.time_ns() // 1_000_000

    assert prefix == "pay"
    assert len(ulid) == 26 and set(ulid) <= set(CROCKFORD)
    assert _decoded(ulid) < 2**128
    assert before <= _decoded(ulid) >> 80 <= after


def test_ids_differ_and_later_milliseconds_sort_later() -> None:
    ids = UlidGenerator()
    first = ids.new_id("evt")
    assert len({ids.new_id("evt") for _ in range(1000)}) == 1000
    deadline = time.time_ns() // 1_000_000 + 2
    while time.time_ns() // 1_000_000 < deadline:  # a later millisecond, without sleeping
        pass
    assert ids.new_id("evt") > first
