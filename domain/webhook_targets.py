"""Where outgoing webhooks may go: public addresses over https, unless the operator allows more.

A subscription's URL is ours to call, on the gateway's network: without these rules anyone holding
an admin key could make Paygate reach its own database, the cloud's metadata service or an
internal admin panel, and read the delivery log as a port scanner's report.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

import attrs

from domain.errors import InvalidValue

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052; 6to4 is read
# through `sixtofour`): a way to reach an internal IPv4 address under a public-looking IPv6 one.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class WebhookTargetRefused(InvalidValue):
    """The URL's scheme or one of its host's addresses is not allowed for webhooks."""

    code = "webhook_target_not_allowed"


def host_of(url: str) -> str:
    """The URL's host name or address literal (IPv6 without brackets); '' when there is none."""
    return urlsplit(url).hostname or ""


def literal_address(host: str) -> IPAddress | None:
    """The address a host spelt as an IP literal stands for, odd spellings included; None for a name.

    `0x7f000001`, `2130706433`, `0177.0.0.1` and `127.1` all mean 127.0.0.1 to the C library (and so
    to curl and most HTTP clients): they are read here as the address they are.
    """
    host = host.removesuffix(".")
    try:
        return _unmapped(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host and host[0].isdigit() and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4 address carried inside an IPv6 one is judged (and reached) as the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def _not_public(address: IPAddress) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:  # shared (100.64/10), documentation, benchmarking ranges
        return "non-public"
    return None


@attrs.frozen
class WebhookTargetRules:
    """`https` to public addresses; `http` and any of `allowed_networks` only when configured."""

    allow_http: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    def check_url(self, url: str) -> SplitResult:
        parts = urlsplit(url)
        if parts.scheme == "https" or (parts.scheme == "http" and self.allow_http):
            return parts
        if parts.scheme == "http":
            raise WebhookTargetRefused("url", "url must use https (http needs WEBHOOK_ALLOW_HTTP=true)")
        raise WebhookTargetRefused("url", "url must be an https URL")

    def check_addresses(self, host: str, addresses: Iterable[IPAddress]) -> tuple[IPAddress, ...]:
        """The addresses to connect to, once every one of them passed; refused if any does not."""
        checked = tuple(_unmapped(address) for address in addresses)
        for address in checked:
            if any(address in network for network in self.allowed_networks):
                continue
            kind = _not_public(address)
            if kind is not None:
                # The kind, not the address: the delivery log must not map an internal network.
                verb = "is" if literal_address(host) is not None else "resolves to"
                raise WebhookTargetRefused("url", f"{host} {verb} a {kind} address, outside WEBHOOK_ALLOWED_NETWORKS")
        return checked
