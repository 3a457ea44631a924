"""carrier tracking: tracking events, package tracking state, shipment promise accuracy

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 10:00:00

docs/tracking.md describes them. Columns are added to existing tables with ``batch_alter_table``,
which on SQLite adds them in place (ALTER TABLE ADD COLUMN, no table copy). The downgrade drops
them with plain ALTER TABLE DROP COLUMN (SQLite 3.35+), never by copying the table: with foreign
keys on, dropping the old copy of ``shipment_packages`` would cascade into ``package_lines``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("shipment_packages") as b:
        b.add_column(sa.Column("tracking_status", sa.String(24), nullable=True))
        b.add_column(sa.Column("status_since", TS, nullable=True))
        b.add_column(sa.Column("delivered_at", TS, nullable=True))
        b.add_column(sa.Column("exception_open", sa.Boolean(), server_default=sa.false(), nullable=False))
        b.add_column(sa.Column("exception_reason", sa.String(500), nullable=True))
        b.add_column(sa.Column("exception_at", TS, nullable=True))
    op.create_index("ix_shipment_packages_exception_open", "shipment_packages", ["exception_open"])
    with op.batch_alter_table("shipments") as b:
        b.add_column(sa.Column("delivered_at", TS, nullable=True))
        b.add_column(sa.Column("promise_outcome", sa.String(16), nullable=True))
        b.add_column(sa.Column("days_late", sa.Integer(), nullable=True))
    op.create_table(
        "tracking_events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("package_id", BigId, nullable=False),
        sa.Column("tracking_number", sa.String(64), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("location", sa.String(500), server_default="", nullable=False),
        sa.Column("carrier_status_code", sa.String(200), server_default="", nullable=False),
        sa.Column("carrier_status_detail", sa.String(200), server_default="", nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("received_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tracking_events"),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["shipment_packages.id"],
            name="fk_tracking_events_package_id_shipment_packages",
            ondelete="CASCADE",
        ),
    )
    # NULLs are distinct in a unique index on both engines: events without an id are de-duplicated
    # by the second index (a status at one instant), as the domain rules say.
    op.create_index(
        "uq_tracking_events_package_external", "tracking_events", ["package_id", "external_id"], unique=True
    )
    op.create_index(
        "uq_tracking_events_package_instant", "tracking_events", ["package_id", "status", "occurred_at"], unique=True
    )
    op.create_index("ix_tracking_events_tracking_number", "tracking_events", ["tracking_number"])


def downgrade() -> None:
    op.drop_index("ix_tracking_events_tracking_number", table_name="tracking_events")
    op.drop_index("uq_tracking_events_package_instant", table_name="tracking_events")
    op.drop_index("uq_tracking_events_package_external", table_name="tracking_events")
    op.drop_table("tracking_events")
    op.drop_index("ix_shipment_packages_exception_open", table_name="shipment_packages")
    for name in ("days_late", "promise_outcome", "delivered_at"):
        op.execute(f"ALTER TABLE shipments DROP COLUMN {name}")
    for name in (
        "exception_at",
        "exception_reason",
        "exception_open",
        "status_since",
        "delivered_at",
        "tracking_status",
    ):
        op.execute(f"ALTER TABLE shipment_packages DROP COLUMN {name}")
