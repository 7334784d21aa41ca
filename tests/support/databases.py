"""Database fixtures (SQLite files and throwaway PostgreSQL databases)."""
