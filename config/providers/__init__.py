"""One wiring module per provider: its HTTP client, its adapter, and what else it brings (webhook
verifiers, a poll schedule, a rate limit). config/container.py composes them; adding a provider
adds a module here and one line there (docs/adding-a-provider.md)."""
