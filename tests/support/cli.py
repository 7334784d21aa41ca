"""Running `paygate ...` in the test's process, as a user would type it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from entrypoints import cli

Paygate = Callable[..., tuple[int, str, str]]


def cli_runner(capsys: pytest.CaptureFixture[str]) -> Paygate:
    """`run("keys", "list")` → (exit code, stdout, stderr) of that one command."""
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
