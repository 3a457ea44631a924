"""order list indexes: placed_at sorts and filters, status + placed_at, external id search,
reservations by order and by location

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 09:00:00

The back-office orders list sorts by placed_at, filters on status and placed_at, searches by
external order id and filters by reserving location; the order page reads reservations by
order. bench/orders_list_bench.py measures the list with and without these on 100,000 orders.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_placed_at", "orders", ["placed_at", "id"])
    op.create_index("ix_orders_status_placed_at", "orders", ["status", "placed_at", "id"])
    op.create_index("ix_orders_external_order_id", "orders", ["external_order_id"])
    op.create_index("ix_reservations_order_id", "reservations", ["order_id", "location_id"])
    op.create_index("ix_reservations_location_order", "reservations", ["location_id", "quantity", "order_id"])


def downgrade() -> None:
    op.drop_index("ix_reservations_location_order", table_name="reservations")
    op.drop_index("ix_reservations_order_id", table_name="reservations")
    op.drop_index("ix_orders_external_order_id", table_name="orders")
    op.drop_index("ix_orders_status_placed_at", table_name="orders")
    op.drop_index("ix_orders_placed_at", table_name="orders")
