"""routing and promising: location capabilities and calendars, sourcing rule versions,
carrier rate tables, routing decisions, the promise on each order

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 19:45:00

docs/adr/0014-routing-at-capture.md says how capture uses these.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: Version 1 of the sourcing rules: the engine's defaults as of this migration, so that every
#: database has rules in force and every routed order can name the version it used.
DEFAULT_RULES = {
    "version": 1,
    "name": "default",
    "split_policy": "allowed",
    "split_min_days_saved": 0,
    "fulfilment_mode": "ship_as_available",
    "max_shipments": 3,
    "weights": {"carrier_cost": "1", "transit_day": "1.50", "per_100_km": "0.20", "extra_shipment": "5", "load": "3"},
    "fastest_first": ["expedited", "premium"],
    "hazmat_requires_license": True,
    "high_value_requires_secure": True,
    "allowed_kinds": ["3pl", "dropship", "store", "warehouse"],
    "currency": "USD",
}


def upgrade() -> None:
    with op.batch_alter_table("locations") as b:
        b.add_column(sa.Column("hazmat_licensed", sa.Boolean(), server_default=sa.false(), nullable=False))
        b.add_column(sa.Column("secure", sa.Boolean(), server_default=sa.false(), nullable=False))
        b.add_column(sa.Column("workdays", sa.String(32), server_default="mon tue wed thu fri", nullable=False))
        b.add_column(sa.Column("holiday_calendar", sa.String(16), nullable=True))
        b.add_column(sa.Column("handling_days", sa.Integer(), server_default="0", nullable=False))
        b.add_column(sa.Column("channels", sa.JSON(), nullable=True))
    with op.batch_alter_table("orders") as b:
        b.add_column(sa.Column("promised_ship_date", sa.Date(), nullable=True))
        b.add_column(sa.Column("promised_earliest", sa.Date(), nullable=True))
        b.add_column(sa.Column("promised_latest", sa.Date(), nullable=True))
    op.create_table(
        "sourcing_rule_sets",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sourcing_rule_sets"),
        sa.UniqueConstraint("version", name="uq_sourcing_rule_sets_version"),
    )
    rule_sets = sa.table(
        "sourcing_rule_sets",
        sa.column("version", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("rules", sa.JSON()),
        sa.column("note", sa.String()),
        sa.column("created_by", sa.String()),
    )
    op.bulk_insert(
        rule_sets,
        [
            {
                "version": 1,
                "name": "default",
                "rules": DEFAULT_RULES,
                "note": "the engine's defaults",
                "created_by": "openoms migrate",
            }
        ],
    )
    op.create_table(
        "carrier_rate_tables",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("loaded_by", sa.String(128), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_carrier_rate_tables"),
    )
    op.create_table(
        "carrier_rates",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("rate_table_id", BigId, nullable=False),
        sa.Column("location", sa.String(32), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("service_code", sa.String(64), nullable=False),
        sa.Column("service_level", sa.String(16), nullable=False),
        sa.Column("zone", sa.String(16), nullable=True),
        sa.Column("from_km", sa.Numeric(10, 3), nullable=True),
        sa.Column("to_km", sa.Numeric(10, 3), nullable=True),
        sa.Column("weight_up_to_grams", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Numeric(18, 4), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("transit_days_min", sa.Integer(), nullable=False),
        sa.Column("transit_days_max", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_carrier_rates"),
        sa.ForeignKeyConstraint(
            ["rate_table_id"],
            ["carrier_rate_tables.id"],
            name="fk_carrier_rates_rate_table_id_carrier_rate_tables",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_carrier_rates_rate_table_id", "carrier_rates", ["rate_table_id", "id"])
    op.create_table(
        "routing_decisions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("rule_label", sa.String(64), nullable=False),
        sa.Column("rate_table_id", BigId, nullable=True),
        sa.Column("chosen", sa.String(255), nullable=False),
        sa.Column("promised_ship_date", sa.Date(), nullable=True),
        sa.Column("promised_earliest", sa.Date(), nullable=True),
        sa.Column("promised_latest", sa.Date(), nullable=True),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_routing_decisions"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_routing_decisions_order_id_orders", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_routing_decisions_order_id", "routing_decisions", ["order_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_routing_decisions_order_id", table_name="routing_decisions")
    op.drop_table("routing_decisions")
    op.drop_index("ix_carrier_rates_rate_table_id", table_name="carrier_rates")
    op.drop_table("carrier_rates")
    op.drop_table("carrier_rate_tables")
    op.drop_table("sourcing_rule_sets")
    with op.batch_alter_table("orders") as b:
        b.drop_column("promised_latest")
        b.drop_column("promised_earliest")
        b.drop_column("promised_ship_date")
    with op.batch_alter_table("locations") as b:
        b.drop_column("channels")
        b.drop_column("handling_days")
        b.drop_column("holiday_calendar")
        b.drop_column("workdays")
        b.drop_column("secure")
        b.drop_column("hazmat_licensed")
