"""customer notifications: the notifications log, the order's language, a channel's default language

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 22:20:00

docs/notifications.md describes them. Columns are added in place (ALTER TABLE ADD COLUMN) and
dropped the same way, never by copying a table: ``orders`` and ``channels`` have FK children.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("orders") as b:
        b.add_column(sa.Column("language", sa.String(35), nullable=True))
    with op.batch_alter_table("channels") as b:
        b.add_column(sa.Column("default_language", sa.String(35), nullable=True))
    op.create_table(
        "notifications",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("order_id", BigId, nullable=True),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), server_default="email", nullable=False),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=True),
        sa.Column("subject", sa.String(500), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("promised_latest", sa.Date(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
        sa.CheckConstraint("status IN ('sending', 'sent', 'failed', 'skipped')", name="ck_notifications_status_known"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_notifications_order_id_orders", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_notifications_order_id", "notifications", ["order_id", "id"])
    op.create_index("ix_notifications_status", "notifications", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_status", table_name="notifications")
    op.drop_index("ix_notifications_order_id", table_name="notifications")
    op.drop_table("notifications")
    op.execute("ALTER TABLE channels DROP COLUMN default_language")
    op.execute("ALTER TABLE orders DROP COLUMN language")
