"""The directory of configured payment providers, by name."""

from __future__ import annotations

from collections.abc import Mapping

from application.errors import ProviderNotConfigured
from application.ports import PaymentProvider


class ProviderDirectory:
    def __init__(self, providers: Mapping[str, PaymentProvider]) -> None:
        self._providers = dict(providers)

    def get(self, name: str) -> PaymentProvider:
        try:
            return self._providers[name]
        except KeyError:
            raise ProviderNotConfigured(name) from None

    def names(self) -> list[str]:
        return sorted(self._providers)
