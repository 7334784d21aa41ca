"""The payment domain: pure rules, no I/O (attrs and the standard library only)."""
