"""What a provider can do, and which capability each payment method needs."""

from __future__ import annotations

import enum

from domain.payment import PaymentMethod


class Capability(enum.StrEnum):
    """What a provider can do; the application refuses clearly what a provider cannot."""

    PUSH_TO_PHONE = "push_to_phone"  # a bill pushed to the customer's app (Kaspi remote payment)
    PAYMENT_LINK = "payment_link"  # a link / QR the customer opens
    REDIRECT_CHECKOUT = "redirect_checkout"  # a hosted checkout page (checkout_url)
    CLIENT_SECRET = "client_secret"  # the browser confirms: cards, Apple Pay, Google Pay
    WALLETS = "wallets"  # `apple_pay` / `google_pay` asked for by name (a wallet's button on the page)
    TWO_STEP = "two_step"  # authorise now, capture later
    CANCEL = "cancel"  # cancel an open payment
    PARTIAL_REFUND = "partial_refund"  # refund part of a payment, repeatedly
    WEBHOOKS = "webhooks"  # the provider calls back; without it the poller is the only source
    REFUND_LOOKUP = "refund_lookup"  # a refund can be asked about later (pending, or its answer lost)


# Which capability each payment method needs.
METHOD_CAPABILITY: dict[PaymentMethod, Capability] = {
    PaymentMethod.REMOTE: Capability.PUSH_TO_PHONE,
    PaymentMethod.LINK: Capability.PAYMENT_LINK,
    PaymentMethod.REDIRECT: Capability.REDIRECT_CHECKOUT,
    PaymentMethod.CARD: Capability.CLIENT_SECRET,
    PaymentMethod.APPLE_PAY: Capability.WALLETS,
    PaymentMethod.GOOGLE_PAY: Capability.WALLETS,
}
