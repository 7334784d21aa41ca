"""Running `paygate` commands in-process against a database, capturing what they print."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from entrypoints import cli

Paygate = Callable[..., tuple[int, str, str]]


def cli_on(url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Paygate:
    """`run(*args)` → (exit code, stdout, stderr) of `paygate *args` on the database at `url`."""
    monkeypatch.setenv("DATABASE_URL", url)
    capsys.readouterr()

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
