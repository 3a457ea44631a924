"""Secrets we must be able to read back (webhook signing secrets, channel credentials), kept
encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under the
installation's ``credentials`` key (adapters/secrets.py). A database dump alone reveals none.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken

from openoms.adapters.secrets import derived_key
from openoms.config import Settings

PURPOSE = "credentials"


class DecryptionFailed(Exception):
    """The token was not made with this installation's key (the secret key changed) or was
    altered."""


def _fernet(settings: Settings) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derived_key(settings, PURPOSE)))


def encrypt(settings: Settings, plaintext: str) -> str:
    """A Fernet token (ASCII) for ``plaintext``; a new random IV each time."""
    return _fernet(settings).encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(settings: Settings, token: str) -> str:
    try:
        return _fernet(settings).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise DecryptionFailed(
            "cannot decrypt a stored secret: OPENOMS_SECRET_KEY (or var/secret.key) is not the one it was stored with"
        ) from exc
