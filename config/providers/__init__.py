"""One wiring module per provider: its HTTP client, its adapter, and what else it brings (webhook
verifiers, a poll schedule, a rate limit). config/container.py composes them; adding a provider
adds a module here and two lines there, plus its row in the lists that name every provider
(docs/adding-a-provider.md, step 6)."""
