"""inbound stock: units expected at a location (purchase orders, transfers) with their ETA

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 20:10:00

Promise dates for baskets the shelves cannot cover come from here (docs/promising.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inbound_stock",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("product_id", BigId, nullable=False),
        sa.Column("location_id", BigId, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), server_default="open", nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_stock"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_inbound_stock_product_id_products"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="fk_inbound_stock_location_id_locations"),
        sa.CheckConstraint("quantity > 0", name="ck_inbound_stock_quantity_positive"),
        sa.CheckConstraint("kind IN ('purchase_order', 'transfer')", name="ck_inbound_stock_kind_known"),
        sa.CheckConstraint("status IN ('open', 'received', 'cancelled')", name="ck_inbound_stock_status_known"),
    )
    op.create_index("ix_inbound_stock_open", "inbound_stock", ["product_id", "status", "expected_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_stock_open", table_name="inbound_stock")
    op.drop_table("inbound_stock")
