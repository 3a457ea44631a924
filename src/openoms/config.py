"""Settings from environment variables (prefix ``OPENOMS_``); see docs/configuration.md."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var") / "openoms.db"


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``OPENOMS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="OPENOMS_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_SQLITE_PATH}",
        description="SQLAlchemy URL. SQLite file by default; postgresql+psycopg://... in production.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    db_pool_size: int = 20
    max_body_bytes: int = Field(default=1_048_576, description="Largest request body accepted.")
    log_level: str = "info"
    cookie_secure: bool | None = Field(
        default=None,
        description="Secure flag on session cookies; unset: on for HTTPS and loopback, off otherwise.",
    )
    low_stock_threshold: int = Field(default=10, description="Network available at or below this is low stock.")
    release_sla_hours: int = Field(
        default=24,
        ge=1,
        description="An order not released to fulfilment this many hours after it was placed is at risk.",
    )
    tracking_webhook_secrets: str = Field(
        default="",
        description="Shared secret(s) for POST /api/v1/tracking/webhook, comma-separated (several while "
        "rotating). Empty: the webhook refuses every request.",
    )
    easypost_webhook_secrets: str = Field(
        default="",
        description="EasyPost webhook secret(s), comma-separated: lets POST /api/v1/tracking/webhook?format=easypost "
        "accept EasyPost's own X-Hmac-Signature header. Empty: EasyPost events need an OpenOMS-Signature.",
    )
    var_dir: Path = Path("var")

    @property
    def tracking_webhook_secret_list(self) -> list[str]:
        return [s.strip() for s in self.tracking_webhook_secrets.split(",") if s.strip()]

    @property
    def easypost_webhook_secret_list(self) -> list[str]:
        return [s.strip() for s in self.easypost_webhook_secrets.split(",") if s.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()


def normalise_database_url(url: str) -> str:
    """Let people write ``postgresql://`` and still get the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
