"""Orders: activation of offline products, kept across runs (one row per product and asset selection).

Revision ID: 0004
Revises: 0003
Create Date: 2025-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not tied to scenes by a foreign key: an order is for a product (and asset selection) at
    # one provider, and must outlive nothing but itself. States: eoharvest.domain.orders.
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("product_key", sa.String(255), nullable=False),
        sa.Column("selection", sa.Text, nullable=False),
        sa.Column("scene_id", sa.String(255), nullable=False),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("remote_id", sa.Text),
        sa.Column("size", sa.BigInteger),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("polls", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reorders", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("owner", sa.String(255)),
        sa.Column("claimed_until", sa.DateTime),
        sa.Column("requested_at", sa.DateTime),
        sa.Column("polled_at", sa.DateTime),
        sa.Column("ready_at", sa.DateTime),
        sa.Column("expires_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("provider", "product_key", "selection", name="uq_orders_key"),
        sa.UniqueConstraint("label", name="uq_orders_label"),
    )
    op.create_index("ix_orders_state", "orders", ["state", "provider"])


def downgrade() -> None:
    op.drop_index("ix_orders_state", table_name="orders")
    op.drop_table("orders")
