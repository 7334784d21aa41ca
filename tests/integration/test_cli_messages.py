"""The command line a newcomer meets: help on every command and option, and clear refusals — never a
Python repr or a bare exception text."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints import cli

from tests.support.cli import Paygate, cli_runner
from tests.support.gateways import gateway_settings, prepare
from tests.support.servers import free_port


@pytest.fixture
def paygate(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Paygate:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("PRODUCTION_API_URL", "simulator")
    monkeypatch.setenv("SANDBOX_PROVIDER", "on")
    monkeypatch.setenv("SECRETS_KEY_FILE", str(tmp_path / "secrets.key"))
    prepare(gateway_settings(sqlite_url, secrets_key_file=str(tmp_path / "secrets.key")))
    return cli_runner(capsys)


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every (sub)command: its words, its parser, and the help its parent lists it with."""
    for action in parser._actions:  # noqa: SLF001 - argparse offers no public walk of its tree
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            helps = {choice.dest: choice.help for choice in action._choices_actions}  # noqa: SLF001
            for name, child in action.choices.items():
                yield (*path, name), child, helps.get(name)
                yield from _commands(child, (*path, name))


def test_every_command_and_option_has_help() -> None:
    missing = []
    for words, parser, listed_with in _commands(cli._parser()):  # noqa: SLF001
        if not listed_with:
            missing.append(" ".join(words))
        for action in parser._actions:  # noqa: SLF001
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help:  # noqa: SLF001
                missing.append(f"{' '.join(words)} {'/'.join(action.option_strings) or action.dest}")

    assert missing == []


def test_the_help_says_shop_is_repeated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["keys", "create", "--help"])
    assert "repeat --shop for several" in capsys.readouterr().out


def test_an_unknown_scope_lists_the_scopes_as_they_are_typed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main(["keys", "create", "--scope", "payment"])

    err = capsys.readouterr().err
    assert refused.value.code == 2
    assert "(choose from 'admin', 'payments', 'payments:read', 'payments:write', 'routes:secrets')" in err
    assert "Scope." not in err and "<" not in err


def test_a_key_for_a_shop_without_a_route_is_refused(paygate: Paygate) -> None:
    code, out, err = paygate("keys", "create", "--scope", "payments", "--shop", "121038", "--shop", "99999")

    assert code == 2 and out == ""
    assert "paygate: shop 99999 is unknown: it has no route" in err
    assert json.loads(paygate("keys", "list")[1]) == []


def test_routes_of_an_unknown_provider_are_an_error_not_an_empty_list(paygate: Paygate) -> None:
    code, out, err = paygate("routes", "list", "--provider", "bogus")

    assert code == 2 and out == ""
    assert "paygate: unknown provider 'bogus' (this gateway's providers: kaspi" in err


def test_a_known_provider_lists_its_routes_even_when_it_has_none(paygate: Paygate) -> None:
    code, out, _ = paygate("routes", "list", "--provider", "kaspi")
    assert code == 0 and {r["shop_id"] for r in json.loads(out)} >= {121038, 576631}

    code, out, _ = paygate("routes", "list", "--provider", "sandbox")
    assert (code, json.loads(out)) == (0, [])


def test_a_missing_file_is_named_without_errno_noise(paygate: Paygate, tmp_path: Path) -> None:
    code, _, err = paygate("demo", "init", "--sellers", str(tmp_path / "nope.csv"), "--key-file", str(tmp_path / "key"))

    assert code == 2
    assert f"paygate: {tmp_path / 'nope.csv'}: No such file or directory" in err
    assert "[Errno" not in err


def test_an_unreachable_database_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/paygate")
    monkeypatch.setenv("SECRETS_KEY_FILE", str(tmp_path / "secrets.key"))

    assert cli.main(["keys", "list"]) == 2

    err = capsys.readouterr().err
    assert "paygate: the database is unreachable (connection failed: " in err
    assert "check DATABASE_URL" in err and "Traceback" not in err
