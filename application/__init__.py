"""Use cases and the ports they need; knows the domain, never an adapter."""
