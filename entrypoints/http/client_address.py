"""Who sent a request: the connecting address, or, behind trusted reverse proxies, the one they forwarded."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str) -> IPAddress | None:
    """An address as peers and X-Forwarded-For write it: bare, `[v6]`, `[v6]:port` or `v4:port`.

    An IPv4-mapped IPv6 address (`::ffff:77.75.153.5`, how a dual-stack socket reports IPv4 peers)
    is the IPv4 address it carries; a zone (`fe80::1%eth0`) is dropped. None when unreadable.
    """
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        text = host
    elif text.count(":") == 1:  # IPv4 with a port; an IPv6 address has two colons or more
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def within(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[IPNetwork]
) -> IPAddress | None:
    """The address a request came from, or None when it cannot be told.

    X-Forwarded-For is believed only when the connecting peer is a trusted proxy, and then read from
    the right: each proxy appends the address it saw, so the right-most address that is not a trusted
    proxy is the client, and everything left of it was written by the client and may be forged. When
    every hop is a trusted proxy, the left-most is the client. An unreadable hop met before the client
    is found makes the answer unknown.
    """
    address = parse_address(peer) if peer else None
    if address is None or not within(address, trusted_proxies):
        return address
    # Several X-Forwarded-For headers are one list, in order (RFC 9110, field lines combine).
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        hop_address = parse_address(hop)
        if hop_address is None:
            return None
        address = hop_address
        if not within(address, trusted_proxies):
            return address
    return address
