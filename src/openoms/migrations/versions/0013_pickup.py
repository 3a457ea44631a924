"""pickup: orders collected at a store (BOPIS, curbside) and how long a store holds them

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 22:30:00

``locations.pickup_hold_days`` is added in place (ALTER TABLE ADD COLUMN) and dropped the same
way, never by copying the table: ``locations`` has foreign-key children (see 0007).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("locations") as b:
        b.add_column(sa.Column("pickup_hold_days", sa.Integer(), nullable=False, server_default="7"))
    op.create_table(
        "order_pickups",
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("location_id", BigId, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("ready_at", TS, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("arrived_at", TS, nullable=True),
        sa.Column("arrival_note", sa.String(255), nullable=True),
        sa.Column("collected_at", TS, nullable=True),
        sa.Column("collected_by", sa.String(128), nullable=True),
        sa.Column("id_checked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", TS, nullable=True),
        sa.PrimaryKeyConstraint("order_id", name="pk_order_pickups"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_pickups_order_id_orders", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="fk_order_pickups_location_id_locations"),
        sa.CheckConstraint("method IN ('pickup', 'curbside')", name="ck_order_pickups_method_known"),
    )
    op.create_index("ix_order_pickups_location_expires", "order_pickups", ["location_id", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_order_pickups_location_expires", table_name="order_pickups")
    op.drop_table("order_pickups")
    op.execute("ALTER TABLE locations DROP COLUMN pickup_hold_days")
