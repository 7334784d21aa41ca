"""Secrets at rest: Fernet encryption with key rotation, and the development key file."""

from __future__ import annotations

import base64
import binascii
import functools
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from application.errors import SecretUnreadable

from adapters.logs import get_logger

log = get_logger("paygate.secrets")

# Every Fernet token starts with its version byte 0x80, which base64 spells "gA".
_TOKEN_MARK = "gAAAAA"


class SecretsKeyError(ValueError):
    """SECRETS_KEY is not a list of Fernet keys; the message never repeats the key."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def _fernet(key: str, position: int) -> Fernet:
    try:
        if len(base64.urlsafe_b64decode(key.encode("ascii"))) != 32:
            raise ValueError
        return Fernet(key)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise SecretsKeyError(
            f"SECRETS_KEY entry {position} is not a Fernet key (32 url-safe base64-encoded bytes); "
            "make one with `paygate secrets generate-key`"
        ) from None


class FernetCipher:
    """Encrypts with the first key; decrypts with any of them, so keys can be rotated in place."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretsKeyError("SECRETS_KEY names no key")
        self._fernet = MultiFernet([_fernet(key, n) for n, key in enumerate(keys, start=1)])
        self._first_key = base64.urlsafe_b64decode(keys[0].encode("ascii"))

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose` (HKDF-SHA256 of the first key): the same on every replica that
        shares SECRETS_KEY, and unrelated to the encryption key or any other purpose's key."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"paygate/{purpose}".encode())
        return hkdf.derive(self._first_key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable("secret") from None

    def rotate(self, stored: str) -> str:
        """`stored` encrypted under the first key; a value stored before encryption is encrypted now."""
        if not looks_encrypted(stored):
            return self.encrypt(stored)
        try:
            return self._fernet.rotate(stored.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable("secret") from None


def looks_encrypted(stored: str) -> bool:
    return stored.startswith(_TOKEN_MARK)


def development_key(path: Path) -> str:
    """The key in `path`, created (mode 0600) on first use: the embedded default needs no configuration."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(generate_key() + "\n")
    try:
        # A hard link fails if the file appeared meanwhile: two processes starting together agree
        # on whichever key was linked first, and nobody ever reads a half-written file.
        os.link(staging, path)
    except FileExistsError:
        pass
    finally:
        staging.unlink()
    return path.read_text(encoding="ascii").strip()


def configured_cipher(keys: Sequence[str], *, development_key_file: Path) -> FernetCipher:
    """The cipher of SECRETS_KEY, or of the development key file when SECRETS_KEY is unset."""
    if keys:
        return FernetCipher(keys)
    _warn_of_development_key(development_key_file)
    return FernetCipher([development_key(development_key_file)])


@functools.cache
def _warn_of_development_key(path: Path) -> None:
    # Once per process and key file: `serve` opens two containers, `run` three; one line says it all.
    log.warning(
        "development_secrets_key",
        path=str(path),
        detail="SECRETS_KEY is not set: secrets at rest are encrypted with the development key; "
        "set SECRETS_KEY in production",
    )
