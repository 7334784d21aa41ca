"""The cipher a gateway configured by default uses (SECRETS_KEY unset: the development key file).

Every test that writes routes into the session's shared PostgreSQL database through a gateway does
so under this key; tests reading those rows with repositories of their own use it too.
"""

from __future__ import annotations

import functools
from pathlib import Path

from adapters.secrets import FernetCipher, development_key

from config.settings import Settings


@functools.cache
def default_cipher() -> FernetCipher:
    return FernetCipher([development_key(Path(Settings().secrets_key_file))])
