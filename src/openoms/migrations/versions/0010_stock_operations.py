"""stock operations: receipts against inbound, transfers with in-transit stock, safety stock,
reorder points

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 22:20:00

Columns are added in place (ALTER TABLE ADD COLUMN) and dropped the same way, never by copying
a table: ``stock_levels`` and ``inbound_stock`` are referenced from elsewhere (see 0007).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("stock_levels") as b:
        b.add_column(sa.Column("safety_stock", sa.Integer(), server_default="0", nullable=False))
        b.add_column(sa.Column("reorder_point", sa.Integer(), nullable=True))
        b.add_column(sa.Column("low_since", TS, nullable=True))
    with op.batch_alter_table("inbound_stock") as b:
        b.add_column(sa.Column("quantity_received", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "transfers",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("from_location_id", BigId, nullable=False),
        sa.Column("to_location_id", BigId, nullable=False),
        sa.Column("status", sa.String(16), server_default="draft", nullable=False),
        sa.Column("expected_at", TS, nullable=False),
        sa.Column("carrier", sa.String(64), nullable=True),
        sa.Column("tracking_number", sa.String(64), nullable=True),
        sa.Column("note", sa.String(255), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("shipped_at", TS, nullable=True),
        sa.Column("received_at", TS, nullable=True),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_transfers"),
        sa.UniqueConstraint("number", name="uq_transfers_number"),
        sa.ForeignKeyConstraint(["from_location_id"], ["locations.id"], name="fk_transfers_from_location_id_locations"),
        sa.ForeignKeyConstraint(["to_location_id"], ["locations.id"], name="fk_transfers_to_location_id_locations"),
        sa.CheckConstraint("from_location_id <> to_location_id", name="ck_transfers_two_locations"),
        sa.CheckConstraint(
            "status IN ('draft', 'in_transit', 'received', 'cancelled')", name="ck_transfers_status_known"
        ),
    )
    op.create_index("ix_transfers_status", "transfers", ["status"])
    op.create_table(
        "transfer_lines",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("transfer_id", BigId, nullable=False),
        sa.Column("product_id", BigId, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("quantity_received", sa.Integer(), server_default="0", nullable=False),
        sa.Column("inbound_id", BigId, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_transfer_lines"),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name="fk_transfer_lines_transfer_id_transfers", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_transfer_lines_product_id_products"),
        sa.ForeignKeyConstraint(
            ["inbound_id"], ["inbound_stock.id"], name="fk_transfer_lines_inbound_id_inbound_stock"
        ),
        sa.CheckConstraint("quantity > 0", name="ck_transfer_lines_quantity_positive"),
        sa.CheckConstraint(
            "quantity_received >= 0 AND quantity_received <= quantity", name="ck_transfer_lines_received_in_range"
        ),
    )
    op.create_index("ix_transfer_lines_transfer_id", "transfer_lines", ["transfer_id"])


def downgrade() -> None:
    op.drop_index("ix_transfer_lines_transfer_id", table_name="transfer_lines")
    op.drop_table("transfer_lines")
    op.drop_index("ix_transfers_status", table_name="transfers")
    op.drop_table("transfers")
    op.execute("ALTER TABLE inbound_stock DROP COLUMN quantity_received")
    for name in ("low_since", "reorder_point", "safety_stock"):
        op.execute(f"ALTER TABLE stock_levels DROP COLUMN {name}")
