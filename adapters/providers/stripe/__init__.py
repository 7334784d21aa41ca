"""Stripe: PaymentIntents on the seller's connected account (Stripe Connect), its webhooks and a simulator."""
