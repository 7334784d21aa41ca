"""Migration scripts, oldest first; each is written by hand and runs on PostgreSQL and SQLite."""
