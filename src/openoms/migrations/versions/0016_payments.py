"""payments: payments, their provider transactions, refunds, webhook de-duplication, order roll-up

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-25 01:20:00

``orders.payment_status`` is added in place (ALTER TABLE ADD COLUMN with a constant default)
and dropped the same way, never by copying the table: ``orders`` has foreign-key children
(see 0007). ``refunds.return_id`` has no foreign key on purpose: returns are their own feature.
docs/adr/0025-payments.md explains the design.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Money = sa.Numeric(18, 4)
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("orders") as b:
        b.add_column(sa.Column("payment_status", sa.String(24), server_default="unpaid", nullable=False))
    op.create_table(
        "payments",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("method", sa.String(128), nullable=False),
        sa.Column("reference", sa.String(255), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_requested", Money, nullable=False),
        sa.Column("amount_authorized", Money, server_default="0", nullable=False),
        sa.Column("amount_captured", Money, server_default="0", nullable=False),
        sa.Column("amount_refunded", Money, server_default="0", nullable=False),
        sa.Column("amount_refund_pending", Money, server_default="0", nullable=False),
        sa.Column("capture_closed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("review_reason", sa.String(500), nullable=True),
        sa.Column("flagged_at", When, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", When, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", When, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_payments_order_id_orders", ondelete="CASCADE"),
        sa.UniqueConstraint("idempotency_key", name="uq_payments_idempotency_key"),
        sa.CheckConstraint(
            "amount_authorized >= 0 AND amount_captured >= 0 AND amount_refunded >= 0 "
            "AND amount_refund_pending >= 0 AND amount_refunded + amount_refund_pending <= amount_captured",
            name="ck_payments_amounts_consistent",
        ),
    )
    op.create_index("ix_payments_order_id", "payments", ["order_id", "id"])
    op.create_index("ix_payments_provider_reference", "payments", ["provider", "reference"])
    op.create_index("ix_payments_flagged_at", "payments", ["flagged_at"])
    op.create_table(
        "refunds",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("amount_refunded", Money, server_default="0", nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("return_id", BigId, nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("created_at", When, server_default=sa.func.now(), nullable=False),
        sa.Column("completed_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_refunds_order_id_orders", ondelete="CASCADE"),
        sa.UniqueConstraint("idempotency_key", name="uq_refunds_idempotency_key"),
        sa.CheckConstraint("amount > 0", name="ck_refunds_amount_positive"),
    )
    op.create_index("ix_refunds_order_id", "refunds", ["order_id", "id"])
    op.create_index("ix_refunds_return_id", "refunds", ["return_id"])
    op.create_table(
        "payment_transactions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("payment_id", BigId, nullable=False),
        sa.Column("refund_id", BigId, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("final", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("reference", sa.String(255), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("message", sa.String(500), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("created_at", When, server_default=sa.func.now(), nullable=False),
        sa.Column("completed_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_payment_transactions"),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_payment_transactions_payment_id_payments", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name="fk_payment_transactions_refund_id_refunds", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_payment_transactions_idempotency_key"),
        sa.CheckConstraint("amount >= 0", name="ck_payment_transactions_amount_not_negative"),
    )
    op.create_index("ix_payment_transactions_payment_id", "payment_transactions", ["payment_id", "id"])
    op.create_index("ix_payment_transactions_refund_id", "payment_transactions", ["refund_id"])
    op.create_table(
        "payment_events",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payment_id", BigId, nullable=True),
        sa.Column("outcome", sa.String(255), nullable=True),
        sa.Column("received_at", When, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_events"),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name="fk_payment_events_payment_id_payments", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event"),
    )
    op.create_index("ix_payment_events_payment_id", "payment_events", ["payment_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_events_payment_id", table_name="payment_events")
    op.drop_table("payment_events")
    op.drop_index("ix_payment_transactions_refund_id", table_name="payment_transactions")
    op.drop_index("ix_payment_transactions_payment_id", table_name="payment_transactions")
    op.drop_table("payment_transactions")
    op.drop_index("ix_refunds_return_id", table_name="refunds")
    op.drop_index("ix_refunds_order_id", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_payments_flagged_at", table_name="payments")
    op.drop_index("ix_payments_provider_reference", table_name="payments")
    op.drop_index("ix_payments_order_id", table_name="payments")
    op.drop_table("payments")
    op.execute("ALTER TABLE orders DROP COLUMN payment_status")
