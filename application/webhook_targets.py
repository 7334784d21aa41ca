"""Checks a webhook URL against the target rules, resolving its host name: at registration and before every delivery."""

from __future__ import annotations

from domain.webhook_targets import IPAddress, WebhookTargetRefused, WebhookTargetRules, literal_address

from application.ports import HostResolver

_DEFAULT_PORTS = {"http": 80, "https": 443}


class WebhookTargets:
    def __init__(self, *, rules: WebhookTargetRules, resolver: HostResolver) -> None:
        self._rules = rules
        self._resolver = resolver

    async def check(self, url: str) -> tuple[IPAddress, ...]:
        """The addresses the URL may be reached at, every one of them allowed.

        Raises `WebhookTargetRefused` (scheme or address not allowed) or `HostUnresolvable`.
        """
        parts = self._rules.check_url(url)
        host = parts.hostname or ""
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise WebhookTargetRefused("url", "url has an invalid port") from None
        literal = literal_address(host)
        addresses = (literal,) if literal is not None else await self._resolver.resolve(host, port)
        return self._rules.check_addresses(host, addresses)
