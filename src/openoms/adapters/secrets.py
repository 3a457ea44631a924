"""The installation's secret key: one place for what signs customer links and encrypts credentials.

``OPENOMS_SECRET_KEY`` wins; without it a random key is made on first use and kept in
``<var_dir>/secret.key`` (mode 0600), so the one-command demo needs no setup and a restart keeps
links valid. Several servers sharing one database must share the key, hence the setting.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from openoms.config import Settings


def app_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.var_dir) / "secret.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    try:  # O_EXCL: two processes starting together agree on the first key written
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def derived_key(settings: Settings, purpose: str) -> bytes:
    """A separate 32-byte key per use (``return-links``, ``credentials``, ...), so one use's key
    never works for another."""
    return hmac.new(app_secret(settings), purpose.encode(), hashlib.sha256).digest()
