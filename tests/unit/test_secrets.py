from pathlib import Path

from openoms.adapters.secrets import app_secret, derived_key
from openoms.config import Settings


def test_generated_once_and_kept(tmp_path: Path) -> None:
    s = Settings(var_dir=tmp_path, secret_key="")
    first = app_secret(s)
    assert len(first) >= 48
    assert app_secret(s) == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_setting_wins_and_purposes_differ(tmp_path: Path) -> None:
    s = Settings(var_dir=tmp_path, secret_key="configured")
    assert app_secret(s) == b"configured"
    assert not (tmp_path / "secret.key").exists()
    assert derived_key(s, "return-links") != derived_key(s, "credentials")
    assert len(derived_key(s, "credentials")) == 32
