"""release policies and waves: how each location is handed its work (docs/fulfilment.md)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 22:20:00

``locations.release_mode`` (manual / automatic / waves) and ``locations.wave_times`` (local
"HH:MM" times) say when a location's work is released; ``waves`` records each release run, one
per location and scheduled instant (the unique index is what lets a wave run once however many
workers try); ``fulfilment_orders.wave_id`` says which run released a fulfilment order.
Columns are added in place (ALTER TABLE ADD COLUMN) and dropped the same way, never by copying
a table: ``locations`` and ``fulfilment_orders`` have foreign-key children (see 0007).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("locations") as b:
        b.add_column(sa.Column("release_mode", sa.String(16), server_default="manual", nullable=False))
        b.add_column(sa.Column("wave_times", sa.JSON(), nullable=True))
    op.create_table(
        "waves",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("location_id", BigId, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scheduled_for", TS, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("fulfilment_orders", sa.Integer(), server_default="0", nullable=False),
        sa.Column("units", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped_for_capacity", sa.Integer(), server_default="0", nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_waves"),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name="fk_waves_location_id_locations"),
        sa.CheckConstraint("kind IN ('wave', 'automatic', 'manual')", name="ck_waves_kind_known"),
    )
    op.create_index("uq_waves_location_scheduled", "waves", ["location_id", "scheduled_for"], unique=True)
    op.create_index("ix_waves_scheduled_for", "waves", ["scheduled_for", "id"])
    # Plain column (no foreign key): SQLite cannot add a REFERENCES column in place to a table
    # whose rows exist without rebuilding it; the service always sets it from a wave it created.
    with op.batch_alter_table("fulfilment_orders") as b:
        b.add_column(sa.Column("wave_id", BigId, nullable=True))
    op.create_index("ix_fulfilment_orders_wave_id", "fulfilment_orders", ["wave_id"])


def downgrade() -> None:
    op.drop_index("ix_fulfilment_orders_wave_id", table_name="fulfilment_orders")
    op.execute("ALTER TABLE fulfilment_orders DROP COLUMN wave_id")
    op.drop_index("ix_waves_scheduled_for", table_name="waves")
    op.drop_index("uq_waves_location_scheduled", table_name="waves")
    op.drop_table("waves")
    for name in ("wave_times", "release_mode"):
        op.execute(f"ALTER TABLE locations DROP COLUMN {name}")
