"""Fixtures that serve ASGI apps over real HTTP on 127.0.0.1."""
