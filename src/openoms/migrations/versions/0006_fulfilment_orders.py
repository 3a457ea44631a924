"""fulfilment orders, their lines, shipments, packages and package lines

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 20:50:00

docs/fulfilment.md describes them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fulfilment_orders",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("location_id", BigId, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("released_by", sa.String(128), nullable=False),
        sa.Column("released_at", TS, nullable=False),
        sa.Column("accepted_at", TS, nullable=True),
        sa.Column("picked_at", TS, nullable=True),
        sa.Column("packed_at", TS, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fulfilment_orders"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_fulfilment_orders_order_id_orders", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="fk_fulfilment_orders_location_id_locations"),
    )
    op.create_index("ix_fulfilment_orders_order_id", "fulfilment_orders", ["order_id"])
    op.create_index("ix_fulfilment_orders_queue", "fulfilment_orders", ["location_id", "status", "id"])
    op.create_table(
        "fulfilment_lines",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("fulfilment_order_id", BigId, nullable=False),
        sa.Column("reservation_id", BigId, nullable=False),
        sa.Column("order_line_id", BigId, nullable=False),
        sa.Column("product_id", BigId, nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("quantity_shipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("quantity_rejected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("quantity_cancelled", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fulfilment_lines"),
        sa.UniqueConstraint("reservation_id", name="uq_fulfilment_lines_reservation_id"),
        sa.ForeignKeyConstraint(
            ["fulfilment_order_id"],
            ["fulfilment_orders.id"],
            name="fk_fulfilment_lines_fulfilment_order_id_fulfilment_orders",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"], ["reservations.id"], name="fk_fulfilment_lines_reservation_id_reservations"
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"], ["order_lines.id"], name="fk_fulfilment_lines_order_line_id_order_lines"
        ),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_fulfilment_lines_product_id_products"),
        sa.CheckConstraint(
            "quantity > 0 AND quantity_shipped >= 0 AND quantity_rejected >= 0 AND quantity_cancelled >= 0 "
            "AND quantity_shipped + quantity_rejected + quantity_cancelled <= quantity",
            name="ck_fulfilment_lines_quantities_add_up",
        ),
    )
    op.create_index(
        "ix_fulfilment_lines_fulfilment_order_id", "fulfilment_lines", ["fulfilment_order_id", "line_number"]
    )
    op.create_table(
        "shipments",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("fulfilment_order_id", BigId, nullable=False),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("service_code", sa.String(64), nullable=True),
        sa.Column("shipped_at", TS, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_shipments"),
        sa.ForeignKeyConstraint(
            ["fulfilment_order_id"],
            ["fulfilment_orders.id"],
            name="fk_shipments_fulfilment_order_id_fulfilment_orders",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_shipments_order_id_orders", ondelete="CASCADE"),
    )
    op.create_index("ix_shipments_order_id", "shipments", ["order_id"])
    op.create_index("ix_shipments_fulfilment_order_id", "shipments", ["fulfilment_order_id"])
    op.create_table(
        "shipment_packages",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("shipment_id", BigId, nullable=False),
        sa.Column("tracking_number", sa.String(64), nullable=False),
        sa.Column("weight_grams", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_shipment_packages"),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name="fk_shipment_packages_shipment_id_shipments", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_shipment_packages_shipment_id", "shipment_packages", ["shipment_id"])
    op.create_index("ix_shipment_packages_tracking_number", "shipment_packages", ["tracking_number"])
    op.create_table(
        "package_lines",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("package_id", BigId, nullable=False),
        sa.Column("fulfilment_line_id", BigId, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_package_lines"),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["shipment_packages.id"],
            name="fk_package_lines_package_id_shipment_packages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["fulfilment_line_id"],
            ["fulfilment_lines.id"],
            name="fk_package_lines_fulfilment_line_id_fulfilment_lines",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("quantity > 0", name="ck_package_lines_quantity_positive"),
    )
    op.create_index("ix_package_lines_package_id", "package_lines", ["package_id"])


def downgrade() -> None:
    op.drop_index("ix_package_lines_package_id", table_name="package_lines")
    op.drop_table("package_lines")
    op.drop_index("ix_shipment_packages_tracking_number", table_name="shipment_packages")
    op.drop_index("ix_shipment_packages_shipment_id", table_name="shipment_packages")
    op.drop_table("shipment_packages")
    op.drop_index("ix_shipments_fulfilment_order_id", table_name="shipments")
    op.drop_index("ix_shipments_order_id", table_name="shipments")
    op.drop_table("shipments")
    op.drop_index("ix_fulfilment_lines_fulfilment_order_id", table_name="fulfilment_lines")
    op.drop_table("fulfilment_lines")
    op.drop_index("ix_fulfilment_orders_queue", table_name="fulfilment_orders")
    op.drop_index("ix_fulfilment_orders_order_id", table_name="fulfilment_orders")
    op.drop_table("fulfilment_orders")
