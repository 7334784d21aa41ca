"""Incoming provider webhooks, one module per provider; each verifies its provider's scheme."""

from __future__ import annotations

from starlette.routing import BaseRoute

from entrypoints.http.provider_webhooks import cloudpayments, stripe, yookassa

routes: list[BaseRoute] = [*stripe.routes, *yookassa.routes, *cloudpayments.routes]
