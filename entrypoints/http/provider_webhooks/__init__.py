"""Incoming provider webhooks, one module per provider; each verifies its provider's scheme."""

from __future__ import annotations

from entrypoints.http.provider_webhooks import cloudpayments, stripe, yookassa

operations = [*stripe.operations, *yookassa.operations, *cloudpayments.operations]
