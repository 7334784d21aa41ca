"""Alembic migrations of the gateway's schema (a package so that installs carry the scripts)."""
