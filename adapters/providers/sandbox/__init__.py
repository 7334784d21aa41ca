"""The sandbox provider: a simulated gateway in the process, for demos and tests."""
