"""Webhook targets on the network: DNS off the event loop, and connections pinned to the checked addresses.

The sender checks a URL's addresses (`application.webhook_targets`) and then connects to exactly
those: `PinnedResolver` hands aiohttp's connector the addresses of the check instead of resolving
the name a second time, so a DNS answer that changes between check and connect (DNS rebinding)
cannot steer a delivery inside. TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from aiohttp.abc import AbstractResolver, ResolveResult

from domain.webhook_targets import IPAddress

from application.errors import HostUnresolvable

_CHECKED: contextvars.ContextVar[tuple[IPAddress, ...] | None] = contextvars.ContextVar("webhook_target", default=None)


class SystemHostResolver:
    """The system's resolver (`getaddrinfo` in the loop's thread pool), bounded by `timeout` seconds."""

    def __init__(self, *, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._timeout = timeout

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise HostUnresolvable(f"{host}: no DNS answer within {self._timeout:g} s") from None
        except (OSError, UnicodeError) as error:
            raise HostUnresolvable(f"{host}: cannot be resolved ({type(error).__name__})") from None
        # The scope of a link-local IPv6 address (`%eth0`) is not part of the address.
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
        if not addresses:
            raise HostUnresolvable(f"{host}: no address")
        return sorted(addresses, key=lambda a: (a.version, int(a)))


@contextmanager
def connect_only_to(addresses: tuple[IPAddress, ...]) -> Iterator[None]:
    """Within the block, this task's connections go to `addresses` (see `PinnedResolver`)."""
    token = _CHECKED.set(addresses)
    try:
        yield
    finally:
        _CHECKED.reset(token)


class PinnedResolver(AbstractResolver):
    """aiohttp's resolver for webhook connections: the addresses checked for this request, nothing else.

    A connection attempted outside `connect_only_to` fails: nothing reaches the network unchecked.
    The connector must not cache DNS (`use_dns_cache=False`), or it would answer without asking.
    """

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = _CHECKED.get()
        if not addresses:
            raise OSError(f"{host}: no checked address to connect to")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        pass
