"""location-bound API keys: a drop-ship supplier's or 3PL's key sees only its location's work

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24 23:50:00

Added in place (ALTER TABLE ADD COLUMN, nullable so existing keys stay unbound) and dropped the
same way, never by copying the table (see 0007).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_api_keys_location_id_locations"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a REFERENCES column in place when its default is NULL.
        op.execute("ALTER TABLE api_keys ADD COLUMN location_id INTEGER REFERENCES locations (id)")
    else:
        op.add_column("api_keys", sa.Column("location_id", sa.BigInteger(), nullable=True))
        op.create_foreign_key(FK, "api_keys", "locations", ["location_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(FK, "api_keys", type_="foreignkey")
    op.execute("ALTER TABLE api_keys DROP COLUMN location_id")
