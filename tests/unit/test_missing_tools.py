"""Tests whose tools are missing skip with the reason on a laptop and fail under CI; the server programs
of the throwaway PostgreSQL are found where PAYGATE_TEST_POSTGRES_BINDIR says."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.postgres_cluster import BINDIR_VARIABLE, SERVER_PROGRAMS, server_bindir
from tests.support.tools import tool_missing


def test_a_missing_tool_skips_with_its_reason_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="initdb is not installed"):
        tool_missing("initdb is not installed")


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_a_missing_tool_fails_the_run_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)

    with pytest.raises(pytest.fail.Exception, match="initdb is not installed.*CI=true"):
        tool_missing("initdb is not installed")


def test_ci_false_is_not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")

    with pytest.raises(pytest.skip.Exception):
        tool_missing("chromium is not installed")


def test_the_server_programs_are_taken_from_the_configured_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for program in SERVER_PROGRAMS:
        (tmp_path / program).write_text("#!/bin/sh\n")
        (tmp_path / program).chmod(0o755)
    monkeypatch.setenv(BINDIR_VARIABLE, str(tmp_path))

    assert server_bindir() == tmp_path


def test_a_configured_folder_without_the_server_programs_finds_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "initdb").write_text("#!/bin/sh\n")
    (tmp_path / "initdb").chmod(0o755)  # but no pg_ctl, no postgres: a client-only install
    monkeypatch.setenv(BINDIR_VARIABLE, str(tmp_path))

    assert server_bindir() is None
