"""Secrets at rest: Fernet with rotation, the development key file, and the credentials codec."""

from __future__ import annotations

import logging
import stat
import threading
from pathlib import Path

import pytest

from domain.seller_route import Credentials

from application.errors import SecretUnreadable

from adapters.persistence.repositories import credentials_from_text, credentials_to_text
from adapters.secrets import FernetCipher, SecretsKeyError, configured_cipher, development_key, generate_key

TOKEN = "8c7d1bd4-1d64-4bd1-9f3c-2c2c3b0f5a11"


def test_a_secret_round_trips_and_its_ciphertext_shows_nothing_of_it() -> None:
    cipher = FernetCipher([generate_key()])
    stored = cipher.encrypt(TOKEN)
    assert TOKEN not in stored and "8c7d1bd4" not in stored
    assert cipher.decrypt(stored) == TOKEN
    assert cipher.encrypt(TOKEN) != stored  # a fresh IV each time: equal secrets do not look equal


def test_a_secret_under_another_key_is_unreadable() -> None:
    stored = FernetCipher([generate_key()]).encrypt(TOKEN)
    with pytest.raises(SecretUnreadable):
        FernetCipher([generate_key()]).decrypt(stored)


def test_rotation_moves_a_secret_to_the_first_key_and_the_old_key_can_then_go() -> None:
    old, new = generate_key(), generate_key()
    stored = FernetCipher([old]).encrypt(TOKEN)
    during = FernetCipher([new, old])  # SECRETS_KEY=new,old while rotating

    rotated = during.rotate(stored)

    assert FernetCipher([new]).decrypt(rotated) == TOKEN
    with pytest.raises(SecretUnreadable):
        FernetCipher([old]).decrypt(rotated)


def test_rotation_encrypts_what_was_stored_before_encryption() -> None:
    cipher = FernetCipher([generate_key()])
    legacy = f'{{"device_token": "{TOKEN}"}}'
    assert cipher.decrypt(cipher.rotate(legacy)) == legacy


def test_rotation_refuses_a_secret_no_key_opens_rather_than_encrypt_it_twice() -> None:
    stored = FernetCipher([generate_key()]).encrypt(TOKEN)
    with pytest.raises(SecretUnreadable):
        FernetCipher([generate_key()]).rotate(stored)


@pytest.mark.parametrize("keys", [[], ["not-a-key"], [generate_key(), "c2hvcnQ="], ["é" * 44]])
def test_a_malformed_key_list_is_refused_without_repeating_the_key(keys: list[str]) -> None:
    with pytest.raises(SecretsKeyError) as refused:
        FernetCipher(keys)
    assert all(key not in str(refused.value) for key in keys if key)


def test_the_development_key_is_created_private_once_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secrets.key"
    first = development_key(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert development_key(path) == first
    FernetCipher([first])  # a usable key
    assert [p.name for p in path.parent.iterdir()] == ["secrets.key"]  # no staging file left behind


def test_processes_starting_together_agree_on_one_development_key(tmp_path: Path) -> None:
    path = tmp_path / "secrets.key"
    keys: list[str] = []
    start = threading.Barrier(8)

    def create() -> None:
        start.wait()
        keys.append(development_key(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(keys) == 8 and len(set(keys)) == 1


def test_without_secrets_key_the_development_key_is_used_and_said_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "secrets.key"
    with caplog.at_level(logging.WARNING, logger="paygate.secrets"):
        cipher = configured_cipher((), development_key_file=path)
    assert path.exists()
    assert "SECRETS_KEY is not set" in caplog.text and str(path) in caplog.text
    assert development_key(path) not in caplog.text
    assert FernetCipher([development_key(path)]).decrypt(cipher.encrypt(TOKEN)) == TOKEN


def test_the_development_key_warning_comes_once_per_process_however_many_containers_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "secrets.key"
    with caplog.at_level(logging.WARNING, logger="paygate.secrets"):
        for _ in range(3):
            configured_cipher((), development_key_file=path)
    assert caplog.text.count("SECRETS_KEY is not set") == 1


def test_with_secrets_key_no_development_key_is_made(tmp_path: Path) -> None:
    path = tmp_path / "secrets.key"
    configured_cipher((generate_key(),), development_key_file=path)
    assert not path.exists()


def test_credentials_are_stored_encrypted_and_read_back() -> None:
    cipher = FernetCipher([generate_key()])
    credentials = Credentials({"device_token": TOKEN})

    text = credentials_to_text(credentials, cipher)

    assert TOKEN not in text and "device_token" not in text
    assert credentials_from_text(text, cipher) == credentials


def test_credentials_stored_before_encryption_still_read() -> None:
    legacy = f'{{"device_token": "{TOKEN}"}}'
    assert credentials_from_text(legacy, FernetCipher([generate_key()])) == Credentials({"device_token": TOKEN})


@pytest.mark.parametrize("reader", [None, FernetCipher([generate_key()])])
def test_encrypted_credentials_without_their_key_are_unreadable(reader: FernetCipher | None) -> None:
    text = credentials_to_text(Credentials({"device_token": TOKEN}), FernetCipher([generate_key()]))
    with pytest.raises(SecretUnreadable, match="route credentials"):
        credentials_from_text(text, reader)
