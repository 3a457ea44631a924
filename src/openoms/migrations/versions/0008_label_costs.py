"""label costs: what OpenOMS paid for each package's label, when it bought it

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 21:10:00

Added in place (ALTER TABLE ADD COLUMN) and dropped the same way, never by copying the table:
with foreign keys on, SQLite's copy-and-rename would cascade into ``package_lines`` (see 0007).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shipment_packages") as b:
        b.add_column(sa.Column("label_cost", sa.Numeric(18, 4), nullable=True))
        b.add_column(sa.Column("label_currency", sa.String(3), nullable=True))


def downgrade() -> None:
    for name in ("label_currency", "label_cost"):
        op.execute(f"ALTER TABLE shipment_packages DROP COLUMN {name}")
