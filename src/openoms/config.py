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
    edi_dir: Path = Field(
        default=Path("var") / "edi",
        description="EDI drop folders: <edi_dir>/<channel>/in is read by the worker, out gets our 855s.",
    )
    secret_key: str = Field(
        default="",
        description="Signs customer links and encrypts stored credentials (adapters/secrets.py). Empty: a "
        "random key is made once and kept in <var_dir>/secret.key; set it when several servers share a database.",
    )
    # Customer e-mail (docs/notifications.md). No SMTP host: e-mail is off, and recorded as skipped.
    smtp_host: str = Field(default="", description="SMTP server for customer e-mail; empty: e-mail is off.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = Field(default=False, description="STARTTLS after connecting (port 587 servers).")
    smtp_ssl: bool = Field(default=False, description="TLS from the first byte (port 465 servers).")
    smtp_timeout_seconds: float = Field(default=30, gt=0)
    mail_from: str = Field(default="OpenOMS <orders@localhost>", description="From: of customer e-mail.")
    mail_default_language: str = Field(default="en", description="When neither order nor channel has one.")
    mail_templates_dir: Path | None = Field(
        default=None, description="Own e-mail templates, searched before the built-in ones (same layout)."
    )
    tracking_urls: str = Field(
        default="",
        description="Tracking links per carrier, 'carrier=https://...{tracking_number}' comma-separated; "
        "added to (and overriding) the built-in ups/fedex/usps/dhl links.",
    )
    tracking_url_fallback: str = Field(
        default="https://www.17track.net/en/track?nums={tracking_number}",
        description="Tracking link for other carriers; empty: no link.",
    )
    # The worker (`openoms worker`): outbox relay and scheduled jobs.
    outbox_max_attempts: int = Field(default=10, ge=1, description="After this many failures a message waits.")
    outbox_lease_seconds: int = Field(default=300, ge=10, description="How long a claimed message is held.")
    # Stripe (docs/payments-stripe.md). No secret key: the "stripe" provider refuses to run.
    stripe_secret_key: str = Field(
        default="", description="Stripe secret API key (sk_live_... / sk_test_... or a restricted rk_... key)."
    )
    stripe_api_base: str = Field(
        default="https://api.stripe.com", description="Stripe API base URL; tests point it at a local fake."
    )
    stripe_api_version: str = Field(
        default="", description="Stripe-Version header sent with every call; empty: the account's default version."
    )
    stripe_webhook_secrets: str = Field(
        default="",
        description="Stripe webhook endpoint signing secret(s) (whsec_...), comma-separated (several while "
        "rotating). Empty: POST /api/v1/payments/webhooks/stripe refuses every request.",
    )
    stripe_webhook_tolerance_seconds: int = Field(
        default=300, ge=1, description="How old (or how far ahead) a Stripe-Signature timestamp may be."
    )
    stripe_timeout_seconds: float = Field(default=30, gt=0, description="Timeout of each call to Stripe.")
    stripe_idempotency_prefix: str = Field(
        default="",
        max_length=64,
        description="Put before every Idempotency-Key sent to Stripe: give each OpenOMS installation sharing "
        "one Stripe account (staging and development on one test account) its own, so their keys never meet.",
    )
    # Outgoing webhooks and NATS JetStream (docs/webhooks.md).
    webhook_max_attempts: int = Field(
        default=15, ge=1, description="A webhook delivery that failed this many times is dead (re-send by hand)."
    )
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=120, description="Per webhook request.")
    webhook_lease_seconds: int = Field(
        default=120, ge=10, description="How long a worker holds a delivery it is sending (more than the timeout)."
    )
    nats_url: str = Field(default="", description="NATS server (nats://host:4222); set: every event is published.")
    nats_stream: str = Field(default="OPENOMS", description="JetStream stream, created if missing.")
    nats_subject_prefix: str = Field(default="openoms", description="Events go to <prefix>.<event type>.")
    # Customer return links (docs/returns-pages.md).
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where customers reach this server: the start of links in customer e-mail (return links).",
    )
    return_link_days: int = Field(
        default=60, ge=1, le=730, description="How long the return link in the shipped e-mail works."
    )

    @property
    def tracking_url_map(self) -> dict[str, str]:
        """``tracking_urls`` as carrier -> link template (malformed entries are ignored)."""
        out: dict[str, str] = {}
        for item in self.tracking_urls.split(","):
            carrier, sep, url = item.partition("=")
            if sep and carrier.strip() and url.strip():
                out[carrier.strip()] = url.strip()
        return out

    @property
    def tracking_webhook_secret_list(self) -> list[str]:
        return [s.strip() for s in self.tracking_webhook_secrets.split(",") if s.strip()]

    @property
    def easypost_webhook_secret_list(self) -> list[str]:
        return [s.strip() for s in self.easypost_webhook_secrets.split(",") if s.strip()]

    @property
    def stripe_webhook_secret_list(self) -> list[str]:
        return [s.strip() for s in self.stripe_webhook_secrets.split(",") if s.strip()]


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
