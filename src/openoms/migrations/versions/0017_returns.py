"""returns: RMAs, their lines and inspections, return policies; final-sale and window per product

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25 01:30:00

Columns on existing tables (``products.final_sale``, ``products.return_window_days``,
``order_lines.quantity_returned``) are added in place (ALTER TABLE ADD COLUMN) and dropped the
same way, never by copying the table: both have foreign-key children (see 0007).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)
Money = sa.Numeric(18, 4)


def upgrade() -> None:
    op.execute("ALTER TABLE products ADD COLUMN final_sale BOOLEAN DEFAULT false NOT NULL")
    op.execute("ALTER TABLE products ADD COLUMN return_window_days INTEGER")
    op.execute("ALTER TABLE order_lines ADD COLUMN quantity_returned INTEGER DEFAULT '0' NOT NULL")
    op.create_table(
        "return_policies",
        sa.Column("id", BigId, nullable=False),
        sa.Column("channel_id", BigId, nullable=True),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("restocking_fee_percent", sa.Numeric(5, 2), nullable=False),
        sa.Column("refund_shipping", sa.String(32), nullable=False),
        sa.Column("allowed_methods", sa.JSON(), nullable=False),
        sa.Column("accepted_conditions", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_return_policies"),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name="fk_return_policies_channel_id_channels", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("channel_id", name="uq_return_policies_channel_id"),
        sa.CheckConstraint("window_days >= 0", name="ck_return_policies_window_not_negative"),
        sa.CheckConstraint(
            "restocking_fee_percent >= 0 AND restocking_fee_percent <= 100", name="ck_return_policies_fee_in_range"
        ),
    )
    op.create_table(
        "returns",
        sa.Column("id", BigId, nullable=False),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("location_id", BigId, nullable=True),
        sa.Column("source", sa.String(24), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("label_tracking_number", sa.String(64), nullable=True),
        sa.Column("exchange_order_id", BigId, nullable=True),
        sa.Column("exchange_difference", Money, nullable=True),
        sa.Column("refund_id", sa.String(64), nullable=True),
        sa.Column("refund_key", sa.String(255), nullable=True),
        sa.Column("refund_amount", Money, nullable=True),
        sa.Column("refund_breakdown", sa.JSON(), nullable=True),
        sa.Column("refunded_at", TS, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_returns"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_returns_order_id_orders", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="fk_returns_location_id_locations"),
        sa.ForeignKeyConstraint(["exchange_order_id"], ["orders.id"], name="fk_returns_exchange_order_id_orders"),
        sa.CheckConstraint("method IN ('mail', 'in_store')", name="ck_returns_method_known"),
        sa.CheckConstraint("source IN ('customer_service', 'api', 'customer')", name="ck_returns_source_known"),
    )
    op.create_index("ix_returns_order_id", "returns", ["order_id"])
    op.create_index("ix_returns_status_id", "returns", ["status", "id"])
    op.create_index("ix_returns_location_id", "returns", ["location_id", "id"])
    op.create_index("uq_returns_exchange_order_id", "returns", ["exchange_order_id"], unique=True)
    op.create_table(
        "return_lines",
        sa.Column("id", BigId, nullable=False),
        sa.Column("return_id", BigId, nullable=False),
        sa.Column("order_line_id", BigId, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("condition", sa.String(16), nullable=True),
        sa.Column("quantity_received", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_return_lines"),
        sa.ForeignKeyConstraint(
            ["return_id"], ["returns.id"], name="fk_return_lines_return_id_returns", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"], ["order_lines.id"], name="fk_return_lines_order_line_id_order_lines"
        ),
        sa.UniqueConstraint("return_id", "order_line_id", name="uq_return_lines_return_order_line"),
        sa.CheckConstraint("quantity > 0", name="ck_return_lines_quantity_positive"),
        sa.CheckConstraint(
            "quantity_received >= 0 AND quantity_received <= quantity", name="ck_return_lines_received_in_range"
        ),
    )
    op.create_table(
        "return_inspections",
        sa.Column("id", BigId, nullable=False),
        sa.Column("return_line_id", BigId, nullable=False),
        sa.Column("location_id", BigId, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(16), nullable=False),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("inspected_by", sa.String(128), nullable=False),
        sa.Column("inspected_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_return_inspections"),
        sa.ForeignKeyConstraint(
            ["return_line_id"],
            ["return_lines.id"],
            name="fk_return_inspections_return_line_id_return_lines",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="fk_return_inspections_location_id_locations"),
        sa.CheckConstraint("quantity > 0", name="ck_return_inspections_quantity_positive"),
        sa.CheckConstraint(
            "disposition IN ('restock', 'refurbish', 'write_off')", name="ck_return_inspections_disposition_known"
        ),
    )
    op.create_index("ix_return_inspections_return_line_id", "return_inspections", ["return_line_id"])


def downgrade() -> None:
    op.drop_index("ix_return_inspections_return_line_id", table_name="return_inspections")
    op.drop_table("return_inspections")
    op.drop_table("return_lines")
    for ix in ("uq_returns_exchange_order_id", "ix_returns_location_id", "ix_returns_status_id", "ix_returns_order_id"):
        op.drop_index(ix, table_name="returns")
    op.drop_table("returns")
    op.drop_table("return_policies")
    op.execute("ALTER TABLE order_lines DROP COLUMN quantity_returned")
    op.execute("ALTER TABLE products DROP COLUMN return_window_days")
    op.execute("ALTER TABLE products DROP COLUMN final_sale")
