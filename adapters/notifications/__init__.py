"""Telling the marketplace what happened: signed webhooks and broker messages."""
