"""channel inbox (dead letters), channel connections, and X12 trading partners with their documents

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-25 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "channel_inbox",
        sa.Column("id", BigId, nullable=False),
        sa.Column("channel_id", BigId, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("external_order_id", sa.String(128), nullable=True),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("order_id", BigId, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("received_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("processed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_channel_inbox"),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], name="fk_channel_inbox_channel_id_channels"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_channel_inbox_order_id_orders", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("channel_id", "dedupe_key", name="uq_channel_inbox_channel_dedupe"),
        sa.CheckConstraint(
            "status IN ('received', 'processed', 'dead', 'ignored')", name="ck_channel_inbox_status_known"
        ),
    )
    op.create_index("ix_channel_inbox_status", "channel_inbox", ["status", "id"])
    op.create_table(
        "edi_partners",
        sa.Column("channel_id", BigId, nullable=False),
        sa.Column("our_qualifier", sa.String(2), nullable=False),
        sa.Column("our_id", sa.String(15), nullable=False),
        sa.Column("their_qualifier", sa.String(2), nullable=False),
        sa.Column("their_id", sa.String(15), nullable=False),
        sa.Column("sku_qualifiers", sa.JSON(), nullable=False),
        sa.Column("default_country", sa.String(2), nullable=False, server_default="US"),
        sa.Column("usage", sa.String(1), nullable=False, server_default="P"),
        sa.Column("strict", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("next_interchange_control", sa.BigInteger(), nullable=False, server_default="1"),
        sa.Column("next_group_control", sa.BigInteger(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("channel_id", name="pk_edi_partners"),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], name="fk_edi_partners_channel_id_channels"),
    )
    op.create_table(
        "edi_documents",
        sa.Column("id", BigId, nullable=False),
        sa.Column("channel_id", BigId, nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("set_code", sa.String(3), nullable=False),
        sa.Column("interchange_control", sa.String(9), nullable=False),
        sa.Column("set_control", sa.String(9), nullable=False),
        sa.Column("po_number", sa.String(64), nullable=True),
        sa.Column("order_id", BigId, nullable=True),
        sa.Column("shipment_id", BigId, nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_edi_documents"),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], name="fk_edi_documents_channel_id_channels"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_edi_documents_order_id_orders", ondelete="SET NULL"
        ),
        sa.UniqueConstraint(
            "channel_id", "direction", "interchange_control", "set_control", name="uq_edi_documents_controls"
        ),
        sa.UniqueConstraint("shipment_id", name="uq_edi_documents_shipment_id"),
    )
    op.create_index("ix_edi_documents_channel", "edi_documents", ["channel_id", "id"])
    op.create_index("ix_edi_documents_order", "edi_documents", ["order_id"])
    op.create_table(
        "channel_connections",
        sa.Column("channel_id", BigId, nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=True),
        sa.Column("webhook_secrets_encrypted", sa.Text(), nullable=True),
        sa.Column("credentials_encrypted", sa.Text(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("last_received_at", TS, nullable=True),
        sa.Column("last_synced_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("channel_id", name="pk_channel_connections"),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], name="fk_channel_connections_channel_id_channels"),
    )


def downgrade() -> None:
    op.drop_table("channel_connections")
    op.drop_table("edi_documents")
    op.drop_table("edi_partners")
    op.drop_index("ix_channel_inbox_status", table_name="channel_inbox")
    op.drop_table("channel_inbox")
