"""backorders and preorders: product policy, channel switch, waiting units with their lot claims

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 22:30:00

Columns are added in place (ALTER TABLE ADD COLUMN) and dropped the same way, never by copying
the table: ``products`` and ``channels`` have foreign-key children (see 0007).
docs/adr/0020-backorders-and-preorders.md explains the queue.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("products") as b:
        b.add_column(sa.Column("backorder_policy", sa.String(16), server_default="none", nullable=False))
    with op.batch_alter_table("channels") as b:
        b.add_column(sa.Column("accepts_backorders", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "backorders",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("order_line_id", BigId, nullable=False),
        sa.Column("product_id", BigId, nullable=False),
        sa.Column("location_id", BigId, nullable=False),
        sa.Column("inbound_id", BigId, nullable=True),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("quantity_allocated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("quantity_cancelled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backorders"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_backorders_order_id_orders", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["order_line_id"], ["order_lines.id"], name="fk_backorders_order_line_id_order_lines", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_backorders_product_id_products"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="fk_backorders_location_id_locations"),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_stock.id"], name="fk_backorders_inbound_id_inbound_stock"),
        sa.CheckConstraint(
            "quantity > 0 AND quantity_allocated >= 0 AND quantity_cancelled >= 0 "
            "AND quantity_allocated + quantity_cancelled <= quantity",
            name="ck_backorders_quantities_add_up",
        ),
    )
    op.create_index("ix_backorders_queue", "backorders", ["product_id", "location_id", "id"])
    op.create_index("ix_backorders_order_line_id", "backorders", ["order_line_id"])
    op.create_index("ix_backorders_inbound_id", "backorders", ["inbound_id"])


def downgrade() -> None:
    op.drop_index("ix_backorders_inbound_id", table_name="backorders")
    op.drop_index("ix_backorders_order_line_id", table_name="backorders")
    op.drop_index("ix_backorders_queue", table_name="backorders")
    op.drop_table("backorders")
    op.execute("ALTER TABLE channels DROP COLUMN accepts_backorders")
    op.execute("ALTER TABLE products DROP COLUMN backorder_policy")
