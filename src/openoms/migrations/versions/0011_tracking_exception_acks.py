"""tracking exception acknowledgements: who cleared a package's carrier exception alert, and why

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 22:20:00

A new table only, so SQLite needs no table copy either way.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tracking_exception_acks",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("package_id", BigId, nullable=False),
        sa.Column("exception_at", TS, nullable=False),
        sa.Column("exception_reason", sa.String(500), nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=False),
        sa.Column("acknowledged_at", TS, nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tracking_exception_acks"),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["shipment_packages.id"],
            name="fk_tracking_exception_acks_package_id_shipment_packages",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "uq_tracking_exception_acks_package_exception",
        "tracking_exception_acks",
        ["package_id", "exception_at"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_tracking_exception_acks_package_exception", table_name="tracking_exception_acks")
    op.drop_table("tracking_exception_acks")
