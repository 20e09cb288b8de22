"""A lease per saved search, so one pass of it runs at a time (daemon, `watch run`, later several
daemons on PostGIS): the holder, when it took the lease, and when the lease expires.

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Its own table, like search_state: a lease changes every heartbeat, the definition rarely.
    op.create_table(
        "search_lease",
        sa.Column(
            "search_id", sa.Integer, sa.ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("acquired_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("search_lease")
